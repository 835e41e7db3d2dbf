"""plait's exports: complete, sorted, and anyio's objects untouched."""

from __future__ import annotations

from typing import get_origin

import anyio
import anyio.abc
import pytest

import plait

ANYIO_REEXPORTS = {
    "create_task_group": anyio.create_task_group,
    "TaskGroup": anyio.abc.TaskGroup,
    "TaskHandle": anyio.TaskHandle,
    "TaskStatus": anyio.abc.TaskStatus,
    "TASK_STATUS_IGNORED": anyio.TASK_STATUS_IGNORED,
    "TaskFailed": anyio.TaskFailed,
    "TaskCancelled": anyio.TaskCancelled,
    "TaskNotFinished": anyio.TaskNotFinished,
    "CancelScope": anyio.CancelScope,
    "move_on_after": anyio.move_on_after,
    "fail_after": anyio.fail_after,
    "move_on_at": anyio.move_on_at,
    "fail_at": anyio.fail_at,
    "current_time": anyio.current_time,
    "sleep": anyio.sleep,
    "sleep_until": anyio.sleep_until,
    "get_cancelled_exc_class": anyio.get_cancelled_exc_class,
    "Lock": anyio.Lock,
    "Semaphore": anyio.Semaphore,
    "Event": anyio.Event,
    "Condition": anyio.Condition,
    "CapacityLimiter": anyio.CapacityLimiter,
    "create_memory_object_stream": anyio.create_memory_object_stream,
}


def test_all_is_sorted_and_unique() -> None:
    assert list(vars(plait)["__all__"]) == sorted(set(vars(plait)["__all__"]))


def test_every_export_exists() -> None:
    missing = [name for name in vars(plait)["__all__"] if not hasattr(plait, name)]
    assert missing == []


def test_no_public_name_left_out_of_all() -> None:
    public = {
        name
        for name, value in vars(plait).items()
        if not name.startswith("_") and not isinstance(value, type(plait))
    }
    assert public - set(vars(plait)["__all__"]) == set()


@pytest.mark.parametrize("name", sorted(ANYIO_REEXPORTS))
def test_reexport_is_anyios_own_object(name: str) -> None:
    assert getattr(plait, name) is ANYIO_REEXPORTS[name]
    assert name in vars(plait)["__all__"]


@pytest.mark.parametrize("name", sorted(ANYIO_REEXPORTS))
def test_reexport_keeps_its_module(name: str) -> None:
    obj = ANYIO_REEXPORTS[name]
    module = getattr(obj, "__module__", None)
    if module is not None:
        assert not module.startswith("plait")


# Type aliases a public signature uses, exported so that users can name them.
TYPE_ALIASES = {
    "AwaitableOrFn",
    "EventLoopName",
    "JobHandlerFn",
    "JobState",
    "MissedTickPolicy",
    "PeriodicErrorPolicy",
    "RetryOn",
}


def _own_names() -> list[str]:
    """The names plait defines: neither anyio's objects nor type aliases."""
    exclude = ANYIO_REEXPORTS.keys() | TYPE_ALIASES
    return [name for name in vars(plait)["__all__"] if name not in exclude]


def test_type_aliases_are_exported_aliases() -> None:
    exported = set(vars(plait)["__all__"])
    assert exported >= TYPE_ALIASES
    aliases = {n for n in exported if get_origin(getattr(plait, n)) is not None}
    assert aliases == TYPE_ALIASES


def test_names_plait_defines_report_plait_as_module() -> None:
    own = _own_names()
    assert own, "plait defines names of its own"
    wrong = [name for name in own if getattr(plait, name).__module__ != "plait"]
    assert wrong == []


def test_names_plait_defines_have_docstrings_with_examples() -> None:
    own = _own_names()
    lacking = [
        name for name in own if ">>>" not in (getattr(plait, name).__doc__ or "")
    ]
    assert lacking == []
