"""What plait's own frames say about a task: the labels of ``task_tree()``.

A snapshot walks each task's await chain; when a frame runs one of plait's
coroutine functions listed here, its labeller reads the frame's locals (the
item a worker is on, the attempt, the service a run belongs to, the job) and
what the frame is suspended on (pulling the next item, or calling fn). The
running program pays nothing for this: no store per item, no task renamed,
no extra task, scope or checkpoint. Labels are read only when a snapshot is
taken, from frames that are suspended at that moment.

What this relies on: the names of locals and attributes in the modules
below. A rename there breaks a label (never the program, nor the snapshot:
a labeller that raises yields a ``label_error`` label instead);
``tests/test_task_tree.py`` takes a snapshot inside each pattern, service,
job and periodic job, on every event loop, and checks the labels.

Labellers are installed for a module only once it has been imported, so a
snapshot never imports the supervision or jobs wings itself.

A labeller returns a mapping with fixed keys: ``pattern``, ``index``,
``item`` (a short repr), ``attempt``, ``state``, ``role``, ``limit``,
``supervisor``, ``service``, ``restarts``, ``job``, ``job_type``,
``periodic``, and ``started_at`` (event-loop time, turned into the node's
age). A mapping naming none of ``pattern``, ``service``, ``supervisor``,
``job`` or ``periodic`` (just an attempt or a state) adds to the mapping of
the frame above it. Under ``CHILD_LABELS`` a labeller may give labels for
child tasks, keyed by the ``id`` of an object on the child's await chain:
``gather`` runs its arguments as bare tasks, and labels them this way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from types import CodeType, FrameType, ModuleType
from typing import Any, TypeAlias

from .._core._awaitables import short_repr

logger = logging.getLogger("plait")

Labels: TypeAlias = dict[str, Any]
Labeller: TypeAlias = Callable[[FrameType, object], "Labels | None"]

CHILD_LABELS = "__children__"
SUBJECT_KEYS = frozenset({"pattern", "service", "supervisor", "job", "periodic"})

_labellers: dict[CodeType, Labeller] = {}
_installed: set[str] = set()


def labeller_for(code: CodeType) -> Labeller | None:
    """Return the labeller for frames running *code*, if plait has one."""
    return _labellers.get(code)


def install_labellers() -> None:
    """Register the labellers of every plait module imported so far."""
    for name, install in _INSTALLERS.items():
        if name not in _installed:
            module = sys.modules.get(name)
            if module is not None:
                _installed.add(name)
                try:
                    install(module)
                except Exception:  # renamed internals: no labels, never a crash
                    logger.debug("plait: no task labels for %s", name, exc_info=True)


def _register(labeller: Labeller, *functions: object) -> None:
    for function in functions:
        _labellers[code_of(function)] = labeller


def code_of(function: object) -> CodeType:
    """Return the code object of a function or method."""
    inner = getattr(function, "__func__", function)
    code = getattr(inner, "__code__", None)
    if not isinstance(code, CodeType):
        raise TypeError(f"cannot label the frames of {function!r}: no code object")
    return code


def nested_code(function: object, name: str) -> CodeType:
    """Return the code of the function *name* defined inside *function*."""
    for const in code_of(function).co_consts:
        if isinstance(const, CodeType) and const.co_name == name:
            return const
    raise LookupError(f"{function!r} defines no function {name!r}")


def _local(frame: FrameType, name: str, default: Any = None) -> Any:
    f_locals: Mapping[str, Any] = frame.f_locals
    return f_locals.get(name, default)


def _runs(obj: object, code: CodeType) -> bool:
    """Tell whether *obj* is a coroutine or generator running *code*."""
    return (getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)) is code


def _item(frame: FrameType, labels: Labels) -> Labels:
    index = _local(frame, "index")
    if index is None:
        labels.setdefault("state", "starting")
        return labels
    labels["index"] = index
    labels["item"] = short_repr(_local(frame, "item"))
    return labels


# -- patterns ------------------------------------------------------------------


def _install_map(module: ModuleType) -> None:
    cls = module._BoundedMap
    pull = code_of(module.ItemSource.pull_async)

    def worker(frame: FrameType, awaiting: object) -> Labels:
        labels: Labels = {"pattern": "bounded_map"}
        if _runs(awaiting, pull):
            labels["state"] = "pulling the next item"
            return labels
        return _item(frame, labels)

    def owner(frame: FrameType, awaiting: object) -> Labels:
        run = _local(frame, "self")
        return {
            "pattern": "bounded_map",
            "role": "waiting for its workers",
            "limit": getattr(run, "limit", None),
        }

    _register(worker, cls._work)
    _register(owner, cls.run)


def _install_mapped_stream(module: ModuleType) -> None:
    cls = module.MappedStream
    pull = code_of(module.ItemSource.pull_async)
    wait_for_slot = code_of(cls._wait_for_slot)
    hold = code_of(cls._hold)

    def worker(frame: FrameType, awaiting: object) -> Labels:
        labels: Labels = {"pattern": "imap"}
        if _runs(awaiting, pull):
            labels["state"] = "pulling the next item"
        elif _runs(awaiting, wait_for_slot):
            labels["state"] = "waiting for the reader to take a result"
        elif _runs(awaiting, hold):
            labels["state"] = "holding a failure for the reader"
        else:
            _item(frame, labels)
        return labels

    def reader(frame: FrameType, awaiting: object) -> Labels:
        return {"pattern": "imap", "role": "waiting for the next result"}

    _register(worker, cls._work)
    _register(reader, cls.next_result)


def _install_call(module: ModuleType) -> None:
    def invoke(frame: FrameType, awaiting: object) -> Labels:
        return {"attempt": _local(frame, "attempt")}

    _labellers[nested_code(module.make_invoke, "invoke")] = invoke


def _install_retry(module: ModuleType) -> None:
    def retry(frame: FrameType, awaiting: object) -> Labels:
        fn = _local(frame, "fn")
        return {
            "pattern": "retry",
            "item": getattr(fn, "__qualname__", None) or short_repr(fn),
            "attempt": _local(frame, "attempt"),
        }

    def backing_off(frame: FrameType, awaiting: object) -> Labels | None:
        delay = _local(frame, "delay")
        exc = _local(frame, "exc")
        if delay is None:
            return None
        return {
            "state": f"backing off {delay:.3g}s after {type(exc).__name__}, "
            f"before attempt {_local(frame, 'attempt', 0) + 1}"
        }

    _register(retry, module.retry)
    _register(backing_off, module.pause_before_retry)


def _install_gather(module: ModuleType) -> None:
    def fail_fast(frame: FrameType, awaiting: object) -> Labels:
        awaitables = _local(frame, "awaitables") or ()
        handles = _local(frame, "handles") or ()
        children = {
            id(handle.coro): {
                "pattern": "gather",
                "index": index,
                "item": short_repr(awaitables[index]),
            }
            for index, handle in enumerate(handles)
        }
        return {
            "pattern": "gather",
            "role": f"waiting for {len(awaitables)} awaitables",
            CHILD_LABELS: children,
        }

    def settled(frame: FrameType, awaiting: object) -> Labels:
        count = len(_local(frame, "awaitables") or ())
        return {"pattern": "gather", "role": f"waiting for {count} awaitables"}

    _register(fail_fast, module._gather_fail_fast)
    _register(settled, module._gather_settled)
    _labellers[nested_code(module._gather_settled, "settle")] = _argument("gather")


def _install_race(module: ModuleType) -> None:
    def owner(frame: FrameType, awaiting: object) -> Labels:
        race = _local(frame, "self")
        count = len(getattr(race, "contestants", ()))
        return {"pattern": "race", "role": f"waiting for a winner of {count}"}

    _register(_argument("race"), module._Race._contestant)
    _register(owner, module._Race.run)


def _install_as_completed(module: ModuleType) -> None:
    _register(_argument("as_completed"), module._AsCompleted._run)


def _argument(pattern: str) -> Labeller:
    """A labeller for a task running argument ``index`` (``aw``) of *pattern*."""

    def label(frame: FrameType, awaiting: object) -> Labels:
        return {
            "pattern": pattern,
            "index": _local(frame, "index"),
            "item": short_repr(_local(frame, "aw")),
        }

    return label


# -- supervision ---------------------------------------------------------------


def _install_service_run(module: ModuleType) -> None:
    def service_run(frame: FrameType, awaiting: object) -> Labels:
        runner = _local(frame, "self")
        child = _local(frame, "child")
        run = _local(frame, "run")
        return {
            "supervisor": getattr(runner, "supervisor", None),
            "service": child.name,
            "state": child.state,
            "restarts": max(0, child.runs - 1),
            "started_at": getattr(run, "started_at", None),
        }

    _register(service_run, module.ServiceRunner._run)


def _install_supervisor_control(module: ModuleType) -> None:
    cls = module.SupervisorControl

    def role(text: str) -> Labeller:
        def label(frame: FrameType, awaiting: object) -> Labels:
            return {"supervisor": _local(frame, "self").name, "role": text}

        return label

    _register(role("watching its services"), cls.run)
    _register(role("restarting a service"), cls._restart_group, cls._relaunch)
    _register(role("shutting down"), cls.shut_down)
    _register(role("giving up"), cls._abandon)


def _install_periodic(module: ModuleType) -> None:
    def call(frame: FrameType, awaiting: object) -> Labels:
        job = _local(frame, "job")
        return {"periodic": job.name, "state": f"run {job.runs}"}

    def ticks(frame: FrameType, awaiting: object) -> Labels:
        job = _local(frame, "job")
        return {"periodic": job.name, "state": "waiting for its next tick"}

    _register(call, module.PeriodicRunner._call)
    _register(ticks, module.tick_loop)


# -- jobs ----------------------------------------------------------------------


def _install_inproc(module: ModuleType) -> None:
    execute = code_of(module.JobCounter._execute)

    def run(frame: FrameType, awaiting: object) -> Labels | None:
        if _runs(awaiting, execute):
            return None  # _execute's own label says it all
        job = _local(frame, "job")
        return {"job": job.id, "job_type": job.type, "state": "waiting for the limit"}

    def attempt(frame: FrameType, awaiting: object) -> Labels:
        job = _local(frame, "job")
        return {
            "job": job.id,
            "job_type": job.type,
            "attempt": _local(frame, "attempt"),
        }

    _register(run, module.TrackedBackend._run)
    _labellers[execute] = attempt


def _install_durable_runs(module: ModuleType) -> None:
    def call(frame: FrameType, awaiting: object) -> Labels:
        claimed = _local(frame, "run").claimed
        return {
            "job": claimed.id,
            "job_type": claimed.type,
            "attempt": claimed.attempts,
        }

    def runner(frame: FrameType, awaiting: object) -> Labels | None:
        running = code_of(module.Runs._run_in_scope)
        if awaiting is not None and not _runs(awaiting, running):
            return {"role": "job runner waiting for a job"}
        return None

    _register(call, module.Runs._call)
    _register(runner, module.Runs._runner)


_INSTALLERS: dict[str, Callable[[ModuleType], None]] = {
    "plait._patterns._map": _install_map,
    "plait._patterns._mapped_stream": _install_mapped_stream,
    "plait._patterns._call": _install_call,
    "plait._patterns._retry": _install_retry,
    "plait._patterns._gather": _install_gather,
    "plait._patterns._race": _install_race,
    "plait._patterns._as_completed": _install_as_completed,
    "plait._supervision._service_run": _install_service_run,
    "plait._supervision._control": _install_supervisor_control,
    "plait._supervision._periodic": _install_periodic,
    "plait._jobs._inproc": _install_inproc,
    "plait._jobs.durable._runs": _install_durable_runs,
}
