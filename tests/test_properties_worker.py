"""Properties of JobWorker when its handlers misbehave and it is cancelled
from outside at a drawn instant.

Handlers succeed, fail, hang, fail in their cleanup, catch the cancellation
and return, raise a BaseException, or raise a cancellation of their own.
The cancellation is a cancel scope's or, on asyncio, a native
``Task.cancel()`` of the task running the worker. Whatever the mix and the
instant, once ``run()`` is over: no job is lost (each is done, dead, or
queued and claimable again), every failure a handler raised is recorded
exactly once as an attempt, ``run()`` ended as the outer cancellation and
nothing else, and no handler is still running."""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from durable_scripts.support import make_dsn, own_cancellation
from plait import testing
from plait._jobs.durable._calls import open_engine

KINDS = ("ok", "fail", "base", "hang", "cleanup", "swallow", "own_cancel")
BACKENDS = ["asyncio", "uvloop", "trio"]


class Fatal(BaseException):
    pass


class Cleanup(ConnectionError):
    pass


class Observed:
    """What the handlers did: raises per job, and runs still inside."""

    def __init__(self) -> None:
        self.raised: Counter[int] = Counter()
        self.inside = 0
        self.started = 0
        self.start = anyio.Event()


def make_handlers(seen: Observed, cancel_at: int) -> plait.JobHandlers:
    handlers = plait.JobHandlers()

    async def run(job: plait.Job) -> str:
        seen.inside += 1
        seen.started += 1
        if seen.started >= cancel_at:
            seen.start.set()
        try:
            return await behave(job)
        except BaseException as exc:
            # A cancellation is the handler's own failure unless a scope
            # around it is cancelled (then the worker hands the job back).
            from_outside = anyio.current_effective_deadline() == -math.inf
            if not isinstance(exc, anyio.get_cancelled_exc_class()) or not from_outside:
                seen.raised[int(job.id or 0)] += 1
            raise
        finally:
            seen.inside -= 1

    async def behave(job: plait.Job) -> str:
        kind = job.payload["kind"]
        if kind == "ok":
            return "ok"
        if kind == "fail":
            raise ValueError("fails")
        if kind == "base":
            raise Fatal("fatal")
        if kind == "own_cancel":
            raise await own_cancellation()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            if kind == "cleanup":
                raise Cleanup("cleanup failed") from None
            if kind == "swallow":
                return "swallowed"
            raise
        raise AssertionError("unreachable")

    policy = plait.RetryPolicy(attempts=2, base_delay=0, jitter=0)
    handlers.add("job", run, retry=policy)
    return handlers


async def scenario(
    dsn: str,
    kinds: list[str],
    cancel_at: int,
    delay: float,
    concurrency: int,
    native: bool,
) -> Observed:
    seen = Observed()
    handlers = make_handlers(seen, cancel_at)
    async with plait.DurableBackend(dsn) as backend:
        await backend.submit_many([plait.Job("job", {"kind": k}) for k in kinds])
    worker = plait.JobWorker(
        dsn, handlers, concurrency=concurrency, poll_interval=0.01, lease=10
    )
    if native:
        # asyncio's Task.cancel(), which gets through anyio's shields.
        task = asyncio.ensure_future(worker.run())
        with anyio.move_on_after(delay):
            await seen.start.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen
    # run() must end as this cancellation and nothing else: any other error
    # would leave the task group and fail the test.
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        with anyio.move_on_after(delay):
            await seen.start.wait()
        tg.cancel_scope.cancel()
    return seen


def check(dsn: str, kinds: list[str], seen: Observed) -> None:
    engine = open_engine(dsn)
    try:
        rows = engine.execute(
            "SELECT id, state, not_before FROM plait_jobs ORDER BY id"
        )
        failed = Counter(
            row[0]
            for row in engine.execute(
                "SELECT job_id FROM plait_attempts WHERE outcome = 'failed'"
            )
        )
    finally:
        engine.close()
    assert len(rows) == len(kinds)
    now = time.time()
    for job_id, state, not_before in rows:
        # Nothing lost: finished, or claimable by the next worker.
        assert state in ("done", "dead", "queued", "retrying"), (job_id, state)
        if state in ("queued", "retrying"):
            assert not_before <= now
        # Every failure a handler raised is one attempt row, no more, no less.
        assert failed[job_id] == seen.raised[job_id], (job_id, kinds)
    assert seen.inside == 0


@contextlib.contextmanager
def sqlite_dsn() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield "sqlite:///" + str(Path(tmp) / "jobs.db")


SCENARIOS = {
    "kinds": st.lists(st.sampled_from(KINDS), min_size=1, max_size=6),
    "cancel_at": st.integers(1, 6),
    "delay": st.floats(0.0, 0.3),
    "concurrency": st.integers(1, 4),
    "fuzz_seed": st.none() | st.integers(0, 2**16),
    "native": st.booleans(),
}


def play(dsn: str, backend: Any, scenario_args: dict[str, Any]) -> None:
    """Run one drawn scenario on *backend* against *dsn* and check it."""
    fuzz_seed = scenario_args.pop("fuzz_seed")
    kinds = scenario_args["kinds"]
    seen = testing.run(
        scenario,
        dsn,
        kinds,
        scenario_args["cancel_at"],
        scenario_args["delay"],
        scenario_args["concurrency"],
        scenario_args["native"] and backend != "trio",  # Task.cancel is asyncio's
        backend=backend,
        virtual_time=False,
        # uvloop's scheduler cannot be explored: there the run is unexplored.
        fuzz_seed=fuzz_seed if backend != "uvloop" else None,
    )
    check(dsn, kinds, seen)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=12, suppress_health_check=[HealthCheck.too_slow])
@given(**SCENARIOS)
def test_a_cancelled_worker_loses_no_job_and_records_each_failure_once(
    backend: str, **scenario_args: Any
) -> None:
    with sqlite_dsn() as dsn:
        play(dsn, backend, scenario_args)


@settings(max_examples=6, suppress_health_check=[HealthCheck.too_slow])
@given(**SCENARIOS)
def test_the_same_on_postgres(
    tmp_path_factory: pytest.TempPathFactory, **scenario_args: Any
) -> None:
    for dsn in make_dsn("postgres", tmp_path_factory.mktemp("pg")):
        play(dsn, "asyncio", scenario_args)
