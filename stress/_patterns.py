"""The patterns' families: each pattern in each of its modes, and its invariants.

Shared by all: every real failure surfaces exactly once (``expect_failures``),
the call ends as the outer cancellation only when nothing failed, what it
returns is what the jobs produced, and a limit is never passed.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
from anyio import TaskHandle

import plait
from plait.testing import JobCleanupError, JobError, JobInterrupt

from ._drive import (
    expect_failures,
    first_finished,
    interrupts,
    is_result,
    job_errors,
    leaves,
    started,
)
from ._model import TICK, Family, Observation, Run, Scenario

LIMITS = (1, 2, 3, 5)


class ItemsError(Exception):
    """What the items iterable raises when a case tells it to fail."""


def _items(run: Run) -> Any:
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
        held = index + 1 - run.extra.get("done_with", _ended)(run)
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


def _ended(run: Run) -> int:
    return sum(e.kind in ("finish", "fail", "cancel") for e in run.timeline)


def _held_problems(obs: Observation, bound: int) -> list[str]:
    """Check that items were pulled lazily: never more than *bound* held."""
    held = obs.run.extra.get("most_held", 0)
    return [f"{held} items pulled and not done with, bound {bound}"] * (held > bound)


def _items_closed(obs: Observation) -> list[str]:
    agen = obs.run.extra.get("agen")
    if agen is not None and agen.ag_frame is not None and obs.outcome != "hung":
        return ["the items async generator was not closed"]
    return []


def _failures(obs: Observation, return_exceptions: bool) -> list[BaseException]:
    """Every job error that is not a result, and the items iterable's error."""
    found = [e for e in job_errors(obs) if not is_result(e, return_exceptions)]
    return found + list(obs.run.extra.get("errors", ()))


def _results_problems(
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


def _arguments(run: Run) -> list[Any]:
    """The jobs as the case's form of argument: coroutines, callables, awaitables."""
    form = run.scenario["form"]
    if form == "callable":
        return list(run.calls)
    if form == "awaitable":
        return [Deferred(call) for call in run.calls]
    run.extra["coroutines"] = coroutines = [call() for call in run.calls]
    return list(coroutines)


def _closed_problems(obs: Observation) -> list[str]:
    """Every coroutine object given ends closed: run, or closed unstarted."""
    left = [
        coro
        for coro in obs.run.extra.get("coroutines", ())
        if inspect.getcoroutinestate(coro) != inspect.CORO_CLOSED
    ]
    return [f"coroutines given and never closed: {left}"] if left else []


def _notes_problems(obs: Observation, pattern: str, where: str) -> list[str]:
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


def _all_results_problems(obs: Observation, return_exceptions: bool) -> list[str]:
    """When the call returned: a result per job, in order, each the right one."""
    if obs.outcome != "value":
        return []
    values = list(enumerate(obs.value))
    problems = []
    if len(values) != len(obs.run.scenario.jobs):
        problems.append(f"{len(values)} results for {len(obs.run.calls)} jobs")
    return problems + _results_problems(obs, values, return_exceptions)


def _limit_problems(obs: Observation, limit: int | None) -> list[str]:
    problems = []
    if limit is not None and obs.run.probe.peak > limit:
        problems.append(f"{obs.run.probe.peak} calls at once, limit {limit}")
    workers = obs.run.extra.get("most_tasks", 0)
    if limit is not None and workers > limit:
        problems.append(f"{workers} worker tasks at once, limit {limit}")
    return problems


def _pool_fn(run: Run, readers: int = 0) -> Callable[[int], Coroutine[Any, Any, int]]:
    """fn for a pool: job *index*, counting the tasks the pool has started."""
    calls, extra = run.calls, run.extra
    extra["tasks_before"] = len(anyio.get_running_tasks()) + readers
    extra["most_tasks"] = 0

    def fn(index: int) -> Coroutine[Any, Any, int]:
        tasks = len(anyio.get_running_tasks()) - extra["tasks_before"]
        extra["most_tasks"] = max(extra["most_tasks"], tasks)
        return calls[index]()

    return fn


# --- gather ---------------------------------------------------------------


async def _call_gather(run: Run) -> Any:
    return await plait.gather(
        *_arguments(run), return_exceptions=run.scenario["return_exceptions"]
    )


def _check_gather(obs: Observation) -> list[str]:
    return_exceptions = obs.run.scenario["return_exceptions"]
    problems = expect_failures(obs, _failures(obs, return_exceptions))
    problems += _closed_problems(obs) + _notes_problems(obs, "gather", "argument")
    return problems + _all_results_problems(obs, return_exceptions)


FORMS = ("coroutine", "callable", "awaitable")

GATHER = Family(
    "gather",
    _call_gather,
    _check_gather,
    modes={"return_exceptions": (False, True), "form": FORMS},
)


# --- race -----------------------------------------------------------------


async def _call_race(run: Run) -> Any:
    stagger = run.scenario["stagger"]
    return await plait.race(
        *_arguments(run), stagger=None if stagger is None else run.seconds(stagger)
    )


def _check_race(obs: Observation) -> list[str]:
    """race's failures: cleanup errors, BaseExceptions, all failing."""
    errors = job_errors(obs)
    cleanup = [e for e in errors if isinstance(e, JobCleanupError)]
    plain = [e for e in errors if type(e) is JobError]
    count = len(obs.run.scenario.jobs)
    all_failed = len(plain) == count
    expected = cleanup + interrupts(obs) + (plain if all_failed else [])
    problems = expect_failures(obs, expected)
    problems += _closed_problems(obs) + _notes_problems(obs, "race", "argument")
    if obs.outcome == "value":
        winner = first_finished(obs)
        if obs.value != winner:
            problems.append(f"returned {obs.value!r}, the winner was {winner}")
    return problems


RACE = Family(
    "race",
    _call_race,
    _check_race,
    modes={
        "stagger": (None, None, 0.0, 0.125, 0.25),
        "form": FORMS,
    },
    jobs=(1, 5),
)


# --- bounded_map ------------------------------------------------------------


async def _call_map(run: Run) -> Any:
    return await plait.bounded_map(
        _pool_fn(run),
        _items(run),
        limit=run.scenario["limit"],
        return_exceptions=run.scenario["return_exceptions"],
    )


def _check_map(obs: Observation) -> list[str]:
    return_exceptions, limit = (
        obs.run.scenario["return_exceptions"],
        obs.run.scenario["limit"],
    )
    problems = expect_failures(obs, _failures(obs, return_exceptions))
    problems += _limit_problems(obs, limit) + _held_problems(obs, limit)
    problems += _items_closed(obs) + _notes_problems(obs, "bounded_map", "item")
    return problems + _all_results_problems(obs, return_exceptions)


_ITEMS_MODES = {
    "items": ("list", "generator", "async generator"),
    "items_fail": (None, None, None, 0, 1, 3),
}

BOUNDED_MAP = Family(
    "bounded_map",
    _call_map,
    _check_map,
    modes={"limit": LIMITS, "return_exceptions": (False, True), **_ITEMS_MODES},
    jobs=(0, 8),
)


# --- imap -------------------------------------------------------------------


async def _call_imap(run: Run) -> Any:
    scenario = run.scenario
    delivered: list[tuple[int, Any]] = []
    run.extra["delivered"] = delivered
    # Done with an item: read, or failed (a failure stops the pulling).
    run.extra["done_with"] = lambda run: (
        len(delivered) + sum(e.kind == "fail" for e in run.timeline)
    )
    stop_after, pause = scenario["stop_after"], scenario["reader_delay"]

    async def read(results: AsyncIterator[tuple[int, Any]]) -> None:
        async for pair in results:
            delivered.append(pair)
            if stop_after is not None and len(delivered) >= stop_after:
                break
            if pause:
                await anyio.sleep(run.seconds(pause))

    readers = scenario["readers"]
    async with plait.imap(
        _pool_fn(run, readers if readers > 1 else 0),
        _items(run),
        limit=scenario["limit"],
        buffer=scenario["buffer"],
        ordered=scenario["ordered"],
        return_exceptions=scenario["return_exceptions"],
        with_index=True,
    ) as results:
        if scenario["readers"] == 1:
            await read(results)
        else:
            async with anyio.create_task_group() as tg:
                for _ in range(scenario["readers"]):
                    tg.start_soon(read, results)
    return delivered


def _check_imap(obs: Observation) -> list[str]:
    """imap's failures: every one not delivered as a result, read or not."""
    scenario = obs.run.scenario
    return_exceptions = scenario["return_exceptions"]
    problems = expect_failures(obs, _failures(obs, return_exceptions))
    limit, buffer = scenario["limit"], scenario["buffer"]
    problems += _limit_problems(obs, limit)
    problems += _held_problems(obs, limit + (limit if buffer is None else buffer))
    problems += _items_closed(obs) + _notes_problems(obs, "imap", "item")
    delivered: list[tuple[int, Any]] = obs.run.extra.get("delivered", [])
    indexes = [index for index, _ in delivered]
    if len(set(indexes)) != len(indexes):
        problems.append(f"results delivered twice: {indexes}")
    in_order = list(range(len(indexes)))
    if scenario["ordered"] and scenario["readers"] == 1 and indexes != in_order:
        problems.append(f"ordered results out of order: {indexes}")
    problems += _results_problems(obs, delivered, return_exceptions)
    complete = scenario["stop_after"] is None and obs.outcome == "value"
    if complete and sorted(indexes) != list(range(len(scenario.jobs))):
        problems.append(f"results missing: got {sorted(indexes)}")
    return problems


IMAP = Family(
    "imap",
    _call_imap,
    _check_imap,
    modes={
        "limit": LIMITS,
        "buffer": (None, 0, 2),
        "ordered": (True, False),
        "return_exceptions": (False, True),
        "readers": (1, 1, 2),
        "stop_after": (None, None, 0, 1, 3),
        "reader_delay": (0, 0, 0.125),
        **_ITEMS_MODES,
    },
    jobs=(0, 8),
)


# --- as_completed -------------------------------------------------------------


async def _call_as_completed(run: Run) -> Any:
    got: list[TaskHandle[Any]] = []
    stop_after = run.scenario["stop_after"]
    async with plait.as_completed(
        *_arguments(run), limit=run.scenario["limit"]
    ) as done:
        async for handle in done:
            got.append(handle)
            if stop_after is not None and len(got) >= stop_after:
                break
    return got


def _check_as_completed(obs: Observation) -> list[str]:
    problems = expect_failures(obs, job_errors(obs))
    problems += _limit_problems(obs, obs.run.scenario["limit"])
    problems += _closed_problems(obs) + _notes_problems(obs, "as_completed", "argument")
    if obs.outcome == "value":
        handles = obs.value
        if len({id(h) for h in handles}) != len(handles):
            problems.append("a handle delivered twice")
        # Handles come in the order their calls ended.
        ended = [int(e.label) for e in obs.run.timeline if e.kind in ("finish", "fail")]
        got = [_handle_index(handle) for handle in handles]
        if got != ended[: len(got)]:
            problems.append(f"handles in order {got}, calls ended {ended}")
        if obs.run.scenario["stop_after"] is None and len(handles) != len(
            obs.run.calls
        ):
            problems.append(f"{len(handles)} handles for {len(obs.run.calls)} jobs")
    return problems


AS_COMPLETED = Family(
    "as_completed",
    _call_as_completed,
    _check_as_completed,
    modes={
        "limit": (None, *LIMITS),
        "stop_after": (None, None, 1, 2),
        "form": FORMS,
    },
    jobs=(1, 6),
)


def _handle_index(handle: TaskHandle[Any]) -> int:
    if handle.status is TaskHandle.Status.FINISHED:
        return int(handle.return_value)
    error = handle.exception
    return error.index if isinstance(error, JobError) else -1


# --- retry -------------------------------------------------------------------


def _policy(run: Run) -> plait.RetryPolicy:
    return plait.RetryPolicy(
        attempts=max(1, len(run.scenario.jobs)),
        base_delay=run.seconds(run.scenario["base_delay"]),
        max_delay=run.seconds(1.0),
        jitter=0,
    )


async def _call_retry(run: Run) -> Any:
    attempt = itertools.count()
    calls = run.calls
    return await plait.retry(lambda: calls[next(attempt)](), policy=_policy(run))


def _check_retry(obs: Observation) -> list[str]:
    """retry's failures: the last attempt's error when it gives up for good."""
    run = obs.run
    made = started(obs)
    problems = []
    if made != list(range(len(made))):
        problems.append(f"attempts out of order: {made}")
    if not made:
        return problems
    last = made[-1]
    events = [e for e in run.timeline if e.label == str(last) and e.kind != "start"]
    end = events[-1] if events else None
    for event in run.timeline:
        ended = event.kind != "start" and int(event.label) < last
        if ended and (event.kind != "fail" or type(event.error) is not JobError):
            problems.append(f"attempt {event.label} retried after {event.kind}")
    if end is None or end.kind == "cancel":
        return problems + expect_failures(obs, [])
    if end.kind == "finish":
        if obs.outcome == "value" and obs.value != last:
            problems.append(f"returned {obs.value!r}, attempt {last} returned")
        return problems + expect_failures(obs, [])
    error = end.error
    assert error is not None
    if isinstance(error, JobInterrupt | JobCleanupError) or error.cancel_pending:  # type: ignore[attr-defined]
        return problems + expect_failures(obs, [error])
    if last + 1 >= len(run.scenario.jobs):
        return problems + expect_failures(obs, [error])
    # retry gives up early when the deadline would pass before the next
    # attempt could start; else the error was retried away (and the call
    # was cancelled while it waited to retry, or the next attempt ran).
    if run.scenario.source != "deadline":
        return problems + expect_failures(obs, [])
    deadline = run.extra["t0"] + run.seconds(run.scenario.cancel_at)
    margin = end.time + _policy(run).backoff(last + 1) - deadline
    if abs(margin) < 3 * run.tick and run.tick != TICK:  # real time: either way
        either = [expect_failures(obs, []), expect_failures(obs, [error])]
        return problems + min(either, key=len)
    return problems + expect_failures(obs, [error] if margin >= 0 else [])


def _within_retrys_contract(scenario: Scenario) -> Scenario:
    """Under Task.cancel(), no attempt's cleanup fails.

    asyncio's cancellation outside any scope leaves no trace once the
    attempt's cleanup has replaced the CancelledError with its own error:
    retry then retries it, and the cancellation is gone (retry's docstring
    says so). With a cancel scope, the harness's other sources, it is seen.
    """
    if scenario.source != "task":
        return scenario
    jobs = tuple(
        dataclasses.replace(job, on_cancel="propagate")
        if job.on_cancel == "fail"
        else job
        for job in scenario.jobs
    )
    return dataclasses.replace(scenario, jobs=jobs)


RETRY = Family(
    "retry",
    _call_retry,
    _check_retry,
    modes={"base_delay": (0.0, 0.125, 0.25)},
    jobs=(1, 4),
    adjust=_within_retrys_contract,
)


PATTERN_FAMILIES = (GATHER, RACE, BOUNDED_MAP, IMAP, AS_COMPLETED, RETRY)
