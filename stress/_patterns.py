"""The patterns' families: each pattern in each of its modes, and its invariants.

Shared by all: every real failure surfaces exactly once (``expect_failures``),
the call ends as the outer cancellation only when nothing failed, what it
returns is what the jobs produced, and a limit is never passed. The pools
(bounded_map, imap) are in ``_pools.py``.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from anyio import TaskHandle

import plait
from plait.testing import JobCleanupError, JobError, JobInterrupt

from ._common import (
    FORMS,
    LIMITS,
    all_results_problems,
    arguments,
    closed_problems,
    failures,
    limit_problems,
    notes_problems,
)
from ._drive import expect_failures, first_finished, interrupts, job_errors, started
from ._model import TICK, Family, Observation, Run, Scenario
from ._pools import BOUNDED_MAP, IMAP

# --- gather ---------------------------------------------------------------


async def _call_gather(run: Run) -> Any:
    return await plait.gather(
        *arguments(run), return_exceptions=run.scenario["return_exceptions"]
    )


def _check_gather(obs: Observation) -> list[str]:
    return_exceptions = obs.run.scenario["return_exceptions"]
    problems = expect_failures(obs, failures(obs, return_exceptions))
    problems += closed_problems(obs) + notes_problems(obs, "gather", "argument")
    return problems + all_results_problems(obs, return_exceptions)


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
        *arguments(run), stagger=None if stagger is None else run.seconds(stagger)
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
    problems += closed_problems(obs) + notes_problems(obs, "race", "argument")
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


# --- as_completed -------------------------------------------------------------


async def _call_as_completed(run: Run) -> Any:
    got: list[TaskHandle[Any]] = []
    stop_after = run.scenario["stop_after"]
    async with plait.as_completed(*arguments(run), limit=run.scenario["limit"]) as done:
        async for handle in done:
            got.append(handle)
            if stop_after is not None and len(got) >= stop_after:
                break
    return got


def _check_as_completed(obs: Observation) -> list[str]:
    problems = expect_failures(obs, job_errors(obs))
    problems += limit_problems(obs, obs.run.scenario["limit"])
    problems += closed_problems(obs) + notes_problems(obs, "as_completed", "argument")
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
    pending = isinstance(error, JobError) and error.cancel_pending
    if isinstance(error, JobInterrupt | JobCleanupError) or pending:
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
