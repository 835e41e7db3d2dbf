"""The task group of plait's patterns: anyio's, keeping failures (anyio #1069)."""

from __future__ import annotations

from typing import Literal

import anyio
import anyio.lowlevel
import pytest

import plait
from conftest import CancelLanding
from plait._core._groups import KeepingTaskGroup, create_task_group


async def fails(tg: KeepingTaskGroup, failing: anyio.Event) -> None:
    try:
        await anyio.lowlevel.checkpoint()
        failing.set()
        raise ValueError("task")
    except BaseException as exc:
        tg.keep(exc)
        raise


async def fails_unkept(failing: anyio.Event) -> None:
    await anyio.lowlevel.checkpoint()
    failing.set()
    raise ValueError("task")


@pytest.mark.parametrize("extra", range(10))
@pytest.mark.parametrize("how", ["kept", "handle", "block"])
async def test_a_task_cancel_at_the_exit_does_not_lose_a_failure(
    cancel_landing: CancelLanding, how: Literal["kept", "handle", "block"], extra: int
) -> None:
    """What anyio's group drops when Task.cancel() meets its exit leaves all the same.

    A task's failure reaches the group by ``keep`` or by a listed handle;
    the block's own error needs neither.
    """
    failing = anyio.Event()

    async def body() -> None:
        async with create_task_group() as tg:
            if how == "kept":
                tg.start_soon(fails, tg, failing)
            elif how == "handle":
                tg.handles.append(tg.start_soon(fails_unkept, failing))
            else:
                await anyio.lowlevel.checkpoint()
                failing.set()
                raise ValueError("block")
            await anyio.sleep_forever()  # until the failure cancels the group

    outcome = await cancel_landing.outcome(body, failing, extra)
    assert isinstance(outcome, BaseExceptionGroup)
    failures = plait.non_cancel_subgroup(outcome)  # trio adds its Cancelled
    assert failures is not None
    assert [str(e) for e in failures.exceptions] == [
        "block" if how == "block" else "task"
    ]
    assert cancel_landing.still_requested or not cancel_landing.fired_during_call


async def test_a_cancellation_alone_leaves_as_itself() -> None:
    with anyio.CancelScope() as scope:
        async with create_task_group() as tg:
            tg.start_soon(anyio.sleep_forever)
            scope.cancel()
    assert scope.cancelled_caught


async def test_it_is_anyios_group_for_its_tasks() -> None:
    done: list[int] = []

    async def record(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        done.append(x)
        return x

    async with create_task_group() as tg:
        handle = tg.create_task(record(1))
        tg.start_soon(record, 2)
        assert await tg.start(started) == "ready"
    assert handle.return_value == 1
    assert sorted(done) == [1, 2]


async def started(*, task_status: anyio.abc.TaskStatus[str]) -> None:
    task_status.started("ready")
