"""What the pattern families share: argument forms, items, and checks."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any

import anyio
import anyio.lowlevel

from plait.testing import JobError

from ._drive import is_result, job_errors, leaves
from ._model import Observation, Run

LIMITS = (1, 2, 3, 5)
FORMS = ("coroutine", "callable", "awaitable")


class ItemsError(Exception):
    """What the items iterable raises when a case tells it to fail."""


def items_for(run: Run) -> Any:
    """The indexes of the jobs, in the case's form; may fail at ``items_fail``."""
    count = len(run.scenario.jobs)
    form, fail_at = run.scenario["items"], run.scenario["items_fail"]
    if form == "list" or fail_at is None or fail_at >= count:
        fail_at = None

    def next_index(index: int) -> int:
        if index == fail_at:
            error = ItemsError(f"items failed at {index}")
            run.extra["errors"] = [error]
            raise error
        # Pulled and not done with: in flight, or (imap) finished and unread.
        held = index + 1 - run.extra.get("done_with", ended)(run)
        run.extra["most_held"] = max(run.extra.get("most_held", 0), held)
        return index

    def sync() -> Iterator[int]:
        for index in range(count):
            yield next_index(index)

    async def asynchronous() -> AsyncIterator[int]:
        for index in range(count):
            await anyio.lowlevel.checkpoint()
            yield next_index(index)

    if form == "list":
        return list(range(count))
    if form == "generator":
        return sync()
    # Only an async generator is promised to be closed (a sync one's
    # cleanup runs when it is collected, as with any consumer).
    run.extra["agen"] = agen = asynchronous()
    return agen


def ended(run: Run) -> int:
    return sum(e.kind in ("finish", "fail", "cancel") for e in run.timeline)


def held_problems(obs: Observation, bound: int) -> list[str]:
    """Check that items were pulled lazily: never more than *bound* held."""
    held = obs.run.extra.get("most_held", 0)
    return [f"{held} items pulled and not done with, bound {bound}"] * (held > bound)


def items_closed(obs: Observation) -> list[str]:
    agen = obs.run.extra.get("agen")
    if agen is not None and agen.ag_frame is not None and obs.outcome != "hung":
        return ["the items async generator was not closed"]
    return []


def failures(obs: Observation, return_exceptions: bool) -> list[BaseException]:
    """Every job error that is not a result, and the items iterable's error."""
    found = [e for e in job_errors(obs) if not is_result(e, return_exceptions)]
    return found + list(obs.run.extra.get("errors", ()))


def results_problems(
    obs: Observation, values: list[tuple[int, Any]], return_exceptions: bool
) -> list[str]:
    """Check each ``(index, value)`` delivered against what its job did."""
    raised = {int(e.label): e.error for e in obs.run.timeline if e.kind == "fail"}
    problems = []
    for index, value in values:
        error = raised.get(index)
        if error is not None and is_result(error, return_exceptions):
            if value is not error:
                problems.append(f"job {index}'s error not its result: {value!r}")
        elif value != index:
            problems.append(f"job {index} gave {value!r}")
    return problems


class Deferred:
    """An awaitable that is not a coroutine (its coroutine is made when awaited)."""

    def __init__(self, call: Callable[[], Coroutine[Any, Any, int]]) -> None:
        self.call = call

    def __await__(self) -> Generator[Any, None, int]:
        return (yield from self.call().__await__())


def arguments(run: Run) -> list[Any]:
    """The jobs as the case's form of argument: coroutines, callables, awaitables."""
    form = run.scenario["form"]
    if form == "callable":
        return list(run.calls)
    if form == "awaitable":
        return [Deferred(call) for call in run.calls]
    run.extra["coroutines"] = coroutines = [call() for call in run.calls]
    return list(coroutines)


def closed_problems(obs: Observation) -> list[str]:
    """Every coroutine object given ends closed: run, or closed unstarted."""
    left = [
        coro
        for coro in obs.run.extra.get("coroutines", ())
        if inspect.getcoroutinestate(coro) != inspect.CORO_CLOSED
    ]
    return [f"coroutines given and never closed: {left}"] if left else []


def notes_problems(obs: Observation, pattern: str, where: str) -> list[str]:
    """Each job error that left the call names its argument or item once."""
    problems = []
    raised = obs.error
    surfaced = {id(leaf) for leaf in leaves(raised)} if raised is not None else set()
    for error in job_errors(obs):
        if id(error) not in surfaced or not isinstance(error, JobError):
            continue
        prefix = f"raised by {pattern}() "
        notes = [n for n in getattr(error, "__notes__", ()) if n.startswith(prefix)]
        wanted = f"{prefix}{where} {error.index}"
        if [note.partition(":")[0] for note in notes] != [wanted]:
            problems.append(f"{error!r} has notes {notes}, wanted {wanted!r}")
    return problems


def all_results_problems(obs: Observation, return_exceptions: bool) -> list[str]:
    """When the call returned: a result per job, in order, each the right one."""
    if obs.outcome != "value":
        return []
    values = list(enumerate(obs.value))
    problems = []
    if len(values) != len(obs.run.scenario.jobs):
        problems.append(f"{len(values)} results for {len(obs.run.calls)} jobs")
    return problems + results_problems(obs, values, return_exceptions)


def limit_problems(obs: Observation, limit: int | None) -> list[str]:
    problems = []
    if limit is not None and obs.run.probe.peak > limit:
        problems.append(f"{obs.run.probe.peak} calls at once, limit {limit}")
    workers = obs.run.extra.get("most_tasks", 0)
    if limit is not None and workers > limit:
        problems.append(f"{workers} worker tasks at once, limit {limit}")
    return problems


def pool_fn(run: Run, readers: int = 0) -> Callable[[int], Coroutine[Any, Any, int]]:
    """fn for a pool: job *index*, counting the tasks the pool has started."""
    calls, extra = run.calls, run.extra
    extra["tasks_before"] = len(anyio.get_running_tasks()) + readers
    extra["most_tasks"] = 0

    def fn(index: int) -> Coroutine[Any, Any, int]:
        tasks = len(anyio.get_running_tasks()) - extra["tasks_before"]
        extra["most_tasks"] = max(extra["most_tasks"], tasks)
        return calls[index]()

    return fn
