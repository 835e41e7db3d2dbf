"""Run one case under its outer cancellation, and what every family checks."""

from __future__ import annotations

import dataclasses
import gc
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.lowlevel

from plait import testing
from plait.testing import ConcurrencyProbe, JobError, JobInterrupt, JobSpec, Timeline

from ._model import (
    MAX_TICKS,
    REAL_TICK,
    TICK,
    Backend,
    Family,
    Observation,
    Run,
    Scenario,
)

HANG = 1000.0
"""Scenario seconds after which a call that has not ended counts as hung."""

SETTLE = (MAX_TICKS + 2) * TICK
"""Scenario seconds after the call in which nothing may happen any more."""


def run_case(family: Family, scenario: Scenario, backend: Backend) -> list[str]:
    """Run *scenario* on *backend*; return its anomalies (none: it passed).

    Warnings (a coroutine never awaited, an unclosed resource) count as
    anomalies; they surface when garbage is collected, so the young
    generations are, here (what the case made is there; a full collection
    would cost more than the case).
    """
    virtual = backend != "uvloop" and not family.real_time
    tick = TICK if virtual else REAL_TICK
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            problems = testing.run(
                _observe_and_check,
                family,
                scenario,
                backend,
                tick,
                backend=backend,
                virtual_time=virtual,
                # uvloop's scheduler cannot be explored: there it runs as is.
                fuzz_seed=scenario.fuzz_seed if backend != "uvloop" else None,
            )
        except BaseException as exc:  # the harness itself must not break
            problems = [f"the harness raised {exc!r}"]
        gc.collect(1)
    problems += [f"warning: {w.category.__name__}: {w.message}" for w in caught]
    return problems


async def _observe_and_check(
    family: Family, scenario: Scenario, backend: Backend, tick: float
) -> list[str]:
    obs = await observe(family, scenario, backend, tick)
    return common_problems(obs) + family.check(obs)


def _scaled(job: JobSpec, tick: float) -> JobSpec:
    return dataclasses.replace(job, delay=job.delay / TICK * tick)


async def observe(
    family: Family, scenario: Scenario, backend: Backend, tick: float
) -> Observation:
    """Run the family's call under the scenario's cancellation; record it all."""
    timeline, probe = Timeline(), ConcurrencyProbe()
    calls = [
        timeline.wrap(probe.wrap(_scaled(job, tick).run), str(job.index))
        for job in scenario.jobs
    ]
    run = Run(scenario, calls, timeline, probe, tick, backend)
    box: dict[str, Any] = {"outcome": "hung", "value": None, "error": None}
    state = {"fired": False, "in_call": False}

    async def call() -> Any:
        return await family.call(run)

    run.extra["t0"] = anyio.current_time()
    with anyio.move_on_after(run.seconds(HANG)) as guard:
        await _with_source(run, call, box, state)
    if guard.cancel_called and box["outcome"] != "value":
        box["outcome"] = "hung"
    return Observation(
        outcome=box["outcome"],
        value=box["value"],
        error=box["error"],
        fired=state["fired"],
        running_after=box.get("running_after", []),
        leaked=box.get("leaked", []),
        late=box.get("late", 0),
        cancelled_class=anyio.get_cancelled_exc_class(),
        run=run,
    )


async def _with_source(
    run: Run,
    call: Callable[[], Awaitable[Any]],
    box: dict[str, Any],
    state: dict[str, bool],
) -> None:
    source = run.scenario.source
    at = run.seconds(run.scenario.cancel_at)
    if source == "task":
        await _under_task_cancel(run, call, box, state, at)
        return
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()
        if source == "deadline":
            scope.deadline = anyio.current_time() + at
        elif source == "sibling":

            async def cancel_later() -> None:
                await anyio.sleep(at)
                state["fired"] = True
                scope.cancel()

            tg.start_soon(cancel_later)
        await _call_in(run, call, box, scope)
        if source == "deadline":
            state["fired"] = scope.cancel_called
        tg.cancel_scope.cancel()


async def _under_task_cancel(
    run: Run,
    call: Callable[[], Awaitable[Any]],
    box: dict[str, Any],
    state: dict[str, bool],
    at: float,
) -> None:
    import asyncio  # this source exists on asyncio only

    runner_task: list[asyncio.Task[Any]] = []

    async def runner() -> None:
        task = asyncio.current_task()
        assert task is not None
        runner_task.append(task)
        state["in_call"] = True
        try:
            await _call_in(run, call, box, None)
        finally:
            state["in_call"] = False
            tg.cancel_scope.cancel()

    async def cancel_later() -> None:
        await anyio.sleep(at)
        if state["in_call"]:
            state["fired"] = True
            runner_task[0].cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancel_later)
        tg.start_soon(runner)


async def _call_in(
    run: Run,
    call: Callable[[], Awaitable[Any]],
    box: dict[str, Any],
    scope: anyio.CancelScope | None,
) -> None:
    """Make the call (inside *scope*), record its outcome, then what is left."""
    before = {task.id for task in anyio.get_running_tasks()}
    try:
        if scope is None:
            box["value"] = await call()
            box["outcome"] = "value"
        else:
            with scope:
                box["value"] = await call()
                box["outcome"] = "value"
            if scope.cancelled_caught:
                box["outcome"] = "cancelled"
    except anyio.get_cancelled_exc_class() as exc:
        # Task.cancel() of this task: the call ended as that cancellation.
        box["outcome"] = "cancelled" if scope is None else "raised"
        box["error"] = exc
    except BaseException as exc:
        box["outcome"], box["error"] = "raised", exc
    ended = set(_labels(run.timeline, "finish", "fail", "cancel"))
    box["running_after"] = sorted(set(_labels(run.timeline, "start")) - ended)
    box["leaked"] = [
        task.name for task in anyio.get_running_tasks() if task.id not in before
    ]
    events = len(run.timeline)
    # Anything still scheduled (a job's sleep, a stray task) would act by now.
    for _ in range(3):
        await anyio.lowlevel.checkpoint()
    await anyio.sleep(run.seconds(SETTLE))
    box["late"] = len(run.timeline) - events


def _labels(timeline: Timeline, *kinds: str) -> Iterator[str]:
    return (event.label for event in timeline if event.kind in kinds)


# --- what every family checks -------------------------------------------


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """Yield *exc*, or the exceptions in it when it is a group, flattened."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaves(inner)
    else:
        yield exc


def job_errors(obs: Observation) -> list[BaseException]:
    """Every exception a job raised, in the order they were raised."""
    return [
        event.error
        for event in obs.run.timeline
        if event.kind == "fail" and event.error is not None
    ]


def is_result(error: BaseException, return_exceptions: bool) -> bool:
    """Tell whether a job's *error* is a result rather than a failure.

    With ``return_exceptions`` a plain ``JobError`` raised before any
    cancellation was pending is its item's result; one raised as the call
    was being cancelled, a cleanup failure and a ``BaseException`` are
    failures.
    """
    if not return_exceptions or type(error) is not JobError:
        return False
    return not error.cancel_pending


def common_problems(obs: Observation) -> list[str]:
    """The invariants of every family: nothing left behind, nothing invented."""
    problems = []
    if obs.outcome == "hung":
        problems.append("the call never ended")
    if obs.running_after:
        problems.append(f"jobs still running after the call: {obs.running_after}")
    if obs.leaked:
        problems.append(f"tasks left running after the call: {obs.leaked}")
    if obs.late:
        problems.append(f"{obs.late} job event(s) after the call was over")
    if obs.outcome == "cancelled" and not obs.fired:
        problems.append("ended as a cancellation nobody requested")
    if obs.outcome == "raised":
        assert obs.error is not None
        known = {id(error) for error in job_errors(obs)}
        known |= {id(error) for error in obs.run.extra.get("errors", ())}
        for leaf in leaves(obs.error):
            if isinstance(leaf, obs.cancelled_class):
                problems.append(f"a cancellation inside what was raised: {leaf!r}")
            elif id(leaf) not in known:
                problems.append(f"an error no job raised: {leaf!r}")
    return problems


def expect_failures(obs: Observation, expected: list[BaseException]) -> list[str]:
    """Check that the call raised exactly *expected*, each once, or nothing.

    The call ends as the outer cancellation, or returns, only when nothing
    failed; when something did, what it raised holds every failure once
    (itself, or inside a group).
    """
    if obs.outcome == "hung":
        return []
    if obs.outcome != "raised":
        if expected:
            return [f"failures lost ({obs.outcome}): {expected!r}"]
        return []
    assert obs.error is not None
    found = [leaf for leaf in leaves(obs.error) if not _cancel(obs, leaf)]
    problems = []
    ids = [id(leaf) for leaf in found]
    repeated = {leaf for leaf in found if ids.count(id(leaf)) > 1}
    if repeated:
        problems.append(
            f"failures raised more than once: {sorted(map(repr, repeated))}"
        )
    expected_ids = {id(error) for error in expected}
    missing = [error for error in expected if id(error) not in set(ids)]
    extra = [leaf for leaf in found if id(leaf) not in expected_ids]
    if missing:
        problems.append(f"failures lost: {missing!r} (raised {obs.error!r})")
    if extra:
        problems.append(f"raised what is no failure here: {extra!r}")
    return problems


def _cancel(obs: Observation, exc: BaseException) -> bool:
    return isinstance(exc, obs.cancelled_class)


def interrupts(obs: Observation) -> list[BaseException]:
    """The ``BaseException``\\ s jobs raised."""
    return [error for error in job_errors(obs) if isinstance(error, JobInterrupt)]


def started(obs: Observation) -> list[int]:
    """The jobs that started, in the order they did."""
    return [int(event.label) for event in obs.run.timeline if event.kind == "start"]


def first_finished(obs: Observation) -> int | None:
    """The first job to return, if any did."""
    for event in obs.run.timeline:
        if event.kind == "finish":
            return int(event.label)
    return None
