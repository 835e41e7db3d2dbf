"""InlineBackend and TrackedBackend: routing, retries, counting, draining."""

from __future__ import annotations

import logging
import random
import time

import anyio
import pytest

import plait
from plait.testing import RealClock, VirtualClock

Clock = VirtualClock | RealClock


def make_handlers(log: list[object]) -> plait.JobHandlers:
    handlers = plait.JobHandlers()

    @handlers.register("ok")
    async def ok(job: plait.Job) -> None:
        await anyio.lowlevel.checkpoint()
        log.append(job.payload.get("n"))

    @handlers.register("fail")
    async def fail(job: plait.Job) -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError(f"job {job.payload.get('n')} failed")

    @handlers.register("flaky", retry=plait.RetryPolicy(attempts=3, base_delay=0))
    async def flaky(job: plait.Job) -> None:
        log.append(("attempt", job.attempt))
        if job.attempt < 3:
            raise ConnectionError("again")

    return handlers


# -- InlineBackend -------------------------------------------------------------


async def test_inline_runs_the_job_inside_submit() -> None:
    log: list[object] = []
    async with plait.InlineBackend(make_handlers(log)) as backend:
        job_id = await backend.submit(plait.Job("ok", {"n": 1}))
        assert log == [1]
        assert isinstance(job_id, str)
        assert job_id
    assert backend.stats() == plait.BackendStats(submitted=1, done=1)
    assert isinstance(backend, plait.TaskBackend)


async def test_inline_counts_and_logs_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with plait.InlineBackend(make_handlers([])) as backend:
        job_id = await backend.submit(plait.Job("fail", {"n": 7}))
    assert backend.stats() == plait.BackendStats(submitted=1, failed=1)
    assert str(backend.failures[job_id]) == "job 7 failed"
    record = next(r for r in caplog.records if r.name == "plait")
    assert record.levelno == logging.WARNING
    assert job_id in record.getMessage()
    assert '"n": 7' in record.getMessage()


async def test_inline_can_raise_errors() -> None:
    async with plait.InlineBackend(make_handlers([]), raise_errors=True) as backend:
        with pytest.raises(ValueError, match="job 1 failed"):
            await backend.submit(plait.Job("fail", {"n": 1}))
    assert backend.stats().failed == 1


async def test_retries_follow_the_handlers_registration() -> None:
    log: list[object] = []
    async with plait.InlineBackend(make_handlers(log)) as backend:
        await backend.submit(plait.Job("flaky"))
    assert log == [("attempt", 1), ("attempt", 2), ("attempt", 3)]
    assert backend.stats().done == 1


async def test_idempotency_key_runs_once() -> None:
    log: list[object] = []
    async with plait.InlineBackend(make_handlers(log)) as backend:
        first = await backend.submit(plait.Job("ok", {"n": 1}, idempotency_key="k"))
        second = await backend.submit(plait.Job("ok", {"n": 2}, idempotency_key="k"))
    assert first == second
    assert log == [1]


async def test_bad_submissions_fail_at_the_call() -> None:
    backend = plait.InlineBackend(make_handlers([]))
    with pytest.raises(RuntimeError, match="async with InlineBackend"):
        await backend.submit(plait.Job("ok"))
    async with backend:
        with pytest.raises(KeyError, match="no handler registered for job type 'nope'"):
            await backend.submit(plait.Job("nope"))
        with pytest.raises(TypeError, match=r"job must be a plait\.Job"):
            await backend.submit({"type": "ok"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"handlers must be a plait\.JobHandlers"):
        plait.InlineBackend({})  # type: ignore[arg-type]


# -- TrackedBackend ------------------------------------------------------------


async def test_tracked_is_entered_once() -> None:
    backend = plait.TrackedBackend(make_handlers([]))
    async with backend:
        with pytest.raises(RuntimeError, match="already been entered"):
            async with backend:
                pass
    with pytest.raises(RuntimeError, match="TrackedBackend can be entered only once"):
        async with backend:
            pass


async def test_tracked_block_error_leaves_as_itself_after_the_drain() -> None:
    log: list[object] = []
    async with anyio.create_task_group():  # an enclosing group sees it unwrapped too
        with pytest.raises(LookupError, match="block"):
            async with plait.TrackedBackend(make_handlers(log)) as backend:
                await backend.submit(plait.Job("ok", {"n": 1}))
                raise LookupError("block")
    assert log == [1]
    assert backend.report == plait.DrainReport(finished=1)


async def test_tracked_submit_returns_before_the_job_runs() -> None:
    release = anyio.Event()
    ran: list[str] = []
    handlers = plait.JobHandlers()

    @handlers.register("wait")
    async def wait(job: plait.Job) -> None:
        await release.wait()
        ran.append(job.id or "")

    async with plait.TrackedBackend(handlers) as backend:
        ids = await backend.submit_many([plait.Job("wait"), plait.Job("wait")])
        await anyio.lowlevel.checkpoint()
        assert ran == []
        assert backend.stats().running == 2
        release.set()
    assert sorted(ran) == sorted(ids)
    assert backend.stats() == plait.BackendStats(submitted=2, done=2)
    assert isinstance(backend, plait.TaskBackend)


async def test_tracked_failure_is_counted_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with plait.TrackedBackend(make_handlers([])) as backend:
        job_id = await backend.submit(plait.Job("fail", {"n": 3}))
    assert backend.stats() == plait.BackendStats(submitted=1, failed=1)
    assert isinstance(backend.failures[job_id], ValueError)
    assert any(job_id in r.getMessage() for r in caplog.records)


async def test_drain_timeout_cancels_the_rest_and_reports_them(clock: Clock) -> None:
    timeout = 60.0 if clock.virtual else 0.1
    handlers = plait.JobHandlers()
    cleaned: list[str] = []

    @handlers.register("slow")
    async def slow(job: plait.Job) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cleaned.append(job.id or "")

    @handlers.register("quick")
    async def quick(job: plait.Job) -> None:
        await anyio.sleep(timeout / 2)

    async with plait.TrackedBackend(handlers) as backend:
        slow_id = await backend.submit(plait.Job("slow"))
        await backend.submit(plait.Job("quick"))
        # Both under way before the drain's clock starts: on real time
        # (uvloop) a loaded machine may otherwise start "quick" so late
        # that its half of the timeout outlasts the drain.
        await anyio.wait_all_tasks_blocked()
        start = anyio.current_time()
        report = await backend.shutdown(drain_timeout=timeout)
        took = anyio.current_time() - start
        with pytest.raises(RuntimeError, match="shutting down"):
            await backend.submit(plait.Job("quick"))
    assert report == plait.DrainReport(finished=1, cancelled=(slow_id,))
    assert cleaned == [slow_id]
    assert took == clock.approx(timeout)
    assert backend.stats() == plait.BackendStats(submitted=2, done=1, cancelled=1)


async def test_outer_cancellation_still_drains(clock: Clock) -> None:
    unit = 10.0 if clock.virtual else 0.05
    handlers = plait.JobHandlers()
    finished: list[str] = []

    @handlers.register("work")
    async def work(job: plait.Job) -> None:
        await anyio.sleep(unit)
        finished.append(job.id or "")

    with anyio.move_on_after(unit / 2) as outer:
        async with plait.TrackedBackend(handlers, drain_timeout=unit * 10) as backend:
            job_id = await backend.submit(plait.Job("work"))
            await anyio.sleep_forever()
    assert outer.cancelled_caught
    assert finished == [job_id]


async def test_a_cancelled_shutdown_cancels_and_reports_the_jobs_left(
    clock: Clock,
) -> None:
    unit = 10.0 if clock.virtual else 0.05
    handlers = plait.JobHandlers()
    ended: list[str] = []

    @handlers.register("slow")
    async def slow(job: plait.Job) -> None:
        try:
            await anyio.sleep(unit)
        finally:
            ended.append(job.id or "")

    async with plait.TrackedBackend(handlers, drain_timeout=unit * 100) as backend:
        job_id = await backend.submit(plait.Job("slow"))
        await anyio.wait_all_tasks_blocked()
        start = anyio.current_time()
        with anyio.CancelScope() as scope:
            scope.cancel()
            await backend.shutdown()
        assert scope.cancelled_caught
        assert anyio.current_time() - start == clock.approx(0)
        assert ended == [job_id]
    assert backend.report == plait.DrainReport(finished=0, cancelled=(job_id,))
    assert backend.stats() == plait.BackendStats(submitted=1, cancelled=1)


async def test_limit_bounds_concurrency() -> None:
    handlers = plait.JobHandlers()
    running = 0
    peak = 0

    @handlers.register("step")
    async def step(job: plait.Job) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        running -= 1

    async with plait.TrackedBackend(handlers, limit=3) as backend:
        await backend.submit_many(plait.Job("step") for _ in range(20))
    assert peak == 3
    assert backend.stats().done == 20


async def test_not_before_delays_the_job() -> None:
    handlers = plait.JobHandlers()
    ran: list[str] = []

    @handlers.register("later")
    async def later(job: plait.Job) -> None:
        ran.append(job.id or "")

    async with plait.TrackedBackend(handlers, drain_timeout=0) as backend:
        now_id = await backend.submit(plait.Job("later", not_before=time.time() - 1))
        late_id = await backend.submit(
            plait.Job("later", not_before=time.time() + 3600)
        )
        await anyio.wait_all_tasks_blocked()
        assert ran == [now_id]
    assert ran == [now_id]
    assert backend.report == plait.DrainReport(finished=0, cancelled=(late_id,))
    assert backend.stats().cancelled == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limit": 0}, "limit must be a positive int"),
        (
            {"drain_timeout": -1},
            r"TrackedBackend\(\) drain_timeout must be a number of seconds >= 0",
        ),
    ],
)
def test_bad_tracked_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        plait.TrackedBackend(plait.JobHandlers(), **kwargs)  # type: ignore[arg-type]


async def test_tracked_10000_jobs_are_all_accounted_for(clock: Clock) -> None:
    timeout = 30.0 if clock.virtual else 0.2
    rng = random.Random(20261124)
    handlers = plait.JobHandlers()
    blocker = anyio.Event()

    @handlers.register("job", retry=plait.RetryPolicy(attempts=2, base_delay=0))
    async def job(job: plait.Job) -> None:
        await anyio.lowlevel.checkpoint()
        if job.payload["fail"] >= job.attempt:
            raise RuntimeError(f"job {job.payload['n']} attempt {job.attempt}")
        if job.payload["block"]:
            await blocker.wait()

    kinds = [
        rng.choice(["ok", "ok", "ok", "retry", "fail", "block"]) for _ in range(10_000)
    ]
    jobs = [
        plait.Job(
            "job",
            {
                "n": n,
                "fail": {"retry": 1, "fail": 2}.get(kind, 0),
                "block": kind == "block",
            },
        )
        for n, kind in enumerate(kinds)
    ]
    async with plait.TrackedBackend(handlers, drain_timeout=timeout) as backend:
        ids = await backend.submit_many(jobs)
        # Leave the block once only the blocked jobs are left, however slow
        # the machine: they are the ones the drain must cancel.
        await anyio.wait_all_tasks_blocked()
    stats = backend.stats()
    by_kind = {kind: kinds.count(kind) for kind in set(kinds)}
    assert stats.submitted == 10_000
    assert stats.done + stats.failed + stats.cancelled == 10_000
    assert stats.running == 0
    assert stats.failed == by_kind["fail"] == len(backend.failures)
    assert stats.cancelled == by_kind["block"]
    assert stats.done == by_kind["ok"] + by_kind["retry"]
    blocked = {i for i, kind in zip(ids, kinds, strict=True) if kind == "block"}
    assert set(backend.failures) == {
        i for i, kind in zip(ids, kinds, strict=True) if kind == "fail"
    }
    assert len(set(ids)) == 10_000
    assert backend.report is not None
    assert set(backend.report.cancelled) == blocked
