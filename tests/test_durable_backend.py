"""DurableBackend and JobWorker in one process, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import plait
from durable_scripts.support import ENGINES, make_dsn, postgres_dsn

POLL = 0.02


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


async def drain(
    dsn: str, handlers: plait.JobHandlers, *, concurrency: int = 10
) -> plait.JobWorker:
    worker = plait.JobWorker(
        dsn, handlers, until_empty=True, poll_interval=POLL, concurrency=concurrency
    )
    with anyio.fail_after(30):
        await worker.run()
    return worker


async def test_submit_runs_the_handler_and_records_the_result(dsn: str) -> None:
    handlers = plait.JobHandlers()

    @handlers.register("add")
    async def add(job: plait.Job) -> dict[str, int]:
        return {"sum": job.payload["a"] + job.payload["b"], "attempt": job.attempt}

    async with plait.DurableBackend(
        dsn, handlers=handlers, poll_interval=POLL
    ) as backend:
        assert isinstance(backend, plait.TaskBackend)
        job_id = await backend.submit(plait.Job("add", {"a": 2, "b": 3}))
        record = await backend.wait(job_id, timeout=20)
    assert record.state == "done"
    assert record.result == {"sum": 5, "attempt": 1}
    assert record.attempts == 1
    assert record.max_attempts == 1
    assert record.finished_at is not None


async def test_idempotency_key_makes_a_second_submit_a_no_op(dsn: str) -> None:
    async with plait.DurableBackend(dsn) as backend:
        first = await backend.submit(plait.Job("t", {"n": 1}, idempotency_key="k1"))
        again = await backend.submit(plait.Job("t", {"n": 2}, idempotency_key="k1"))
        batch = await backend.submit_many(
            [
                plait.Job("t", {"n": 3}, idempotency_key="k2"),
                plait.Job("t", {"n": 4}, idempotency_key="k1"),
                plait.Job("t", {"n": 5}, idempotency_key="k2"),
                plait.Job("t", {"n": 6}),
            ]
        )
        stats = await backend.stats()
        record = await backend.get(first)
    assert again == first
    assert batch[1] == first
    assert batch[0] == batch[2]
    assert len({first, batch[0], batch[3]}) == 3
    assert stats.counts["queued"] == 3
    assert record is not None
    assert record.payload == {"n": 1}


async def test_not_before_holds_a_job_until_its_time(dsn: str) -> None:
    handlers = plait.JobHandlers()
    ran_at: list[float] = []

    @handlers.register("later")
    async def later(job: plait.Job) -> None:
        ran_at.append(time.time())

    due = time.time() + 0.6
    async with plait.DurableBackend(dsn) as backend:
        job_id = await backend.submit(plait.Job("later", not_before=due))
        assert (await backend.stats()).oldest_queued_age is None
        # A drain leaves jobs scheduled for later alone: they are future work.
        await drain(dsn, handlers)
        assert ran_at == []
    backend = plait.DurableBackend(dsn, handlers=handlers, poll_interval=POLL)
    async with backend:
        record = await backend.wait(job_id, timeout=20)
    assert record.state == "done"
    assert ran_at
    assert ran_at[0] >= due


async def test_higher_priority_runs_first(dsn: str) -> None:
    handlers = plait.JobHandlers()
    order: list[int] = []

    @handlers.register("p")
    async def p(job: plait.Job) -> None:
        order.append(job.priority)

    async with plait.DurableBackend(dsn) as backend:
        await backend.submit_many(
            [plait.Job("p", priority=prio) for prio in (0, 5, -3, 10, 5, 1)]
        )
        await drain(dsn, handlers, concurrency=1)
    assert order == [10, 5, 5, 1, 0, -3]


async def test_failures_retry_with_backoff_then_succeed(dsn: str) -> None:
    handlers = plait.JobHandlers()
    runs: list[float] = []
    policy = plait.RetryPolicy(attempts=3, base_delay=0.2, jitter=0)

    @handlers.register("flaky", retry=policy)
    async def flaky(job: plait.Job) -> int:
        runs.append(time.time())
        if job.attempt < 3:
            raise ValueError(f"attempt {job.attempt} fails")
        return job.attempt

    async with plait.DurableBackend(
        dsn, handlers=handlers, poll_interval=POLL
    ) as backend:
        job_id = await backend.submit(plait.Job("flaky"))
        record = await backend.wait(job_id, timeout=20)
    assert record.state == "done"
    assert record.result == 3
    assert record.attempts == 3
    assert record.max_attempts == 3
    assert record.error is not None
    assert "attempt 2 fails" in record.error
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert len(gaps) == 2
    assert gaps[0] >= 0.2
    assert gaps[1] >= 0.4


async def test_last_failure_dead_letters_and_keeps_the_error(dsn: str) -> None:
    handlers = plait.JobHandlers()

    @handlers.register("bad", retry=plait.RetryPolicy(attempts=2, base_delay=0))
    async def bad(job: plait.Job) -> None:
        raise KeyError(f"missing thing on attempt {job.attempt}")

    @handlers.register("fatal", retry=plait.RetryPolicy(attempts=5, retry_on=KeyError))
    async def fatal(job: plait.Job) -> None:
        raise TypeError("not retried")

    async with plait.DurableBackend(
        dsn, handlers=handlers, poll_interval=POLL
    ) as backend:
        bad_id, fatal_id = await backend.submit_many(
            [plait.Job("bad"), plait.Job("fatal")]
        )
        bad_record = await backend.wait(bad_id, timeout=20)
        fatal_record = await backend.wait(fatal_id, timeout=20)
        stats = await backend.stats()
    assert bad_record.state == "dead"
    assert bad_record.attempts == 2
    assert bad_record.error is not None
    assert "KeyError: 'missing thing on attempt 2'" in bad_record.error
    assert fatal_record.state == "dead"
    assert fatal_record.attempts == 1
    assert fatal_record.error is not None
    assert "TypeError: not retried" in fatal_record.error
    assert stats.counts["dead"] == 2
    assert stats.by_type == {"bad": {"dead": 1}, "fatal": {"dead": 1}}


async def test_unknown_type_is_dead_lettered_with_a_clear_error(dsn: str) -> None:
    handlers = plait.JobHandlers()

    @handlers.register("known")
    async def known(job: plait.Job) -> None:
        return None

    async with plait.DurableBackend(dsn) as backend:
        job_id = await backend.submit(plait.Job("mystery", {"x": 1}))
        worker = await drain(dsn, handlers)
        record = await backend.get(job_id)
    assert record is not None
    assert record.state == "dead"
    assert record.error is not None
    assert "no handler registered for job type 'mystery'" in record.error
    assert "it handles: 'known'" in record.error
    assert worker.stats.dead == 1
    assert worker.stats.claimed == 1


async def test_bad_payload_and_result_are_clear_errors(dsn: str) -> None:
    with pytest.raises(TypeError, match="JSON-serialisable"):
        plait.Job("t", {"when": object()})
    handlers = plait.JobHandlers()

    @handlers.register("unserialisable")
    async def unserialisable(job: plait.Job) -> object:
        return {1, 2}

    async with plait.DurableBackend(dsn) as backend:
        with pytest.raises(TypeError, match=r"submit takes a plait\.Job"):
            await backend.submit({"type": "t"})  # type: ignore[arg-type]
        job_id = await backend.submit(plait.Job("unserialisable"))
        await drain(dsn, handlers)
        record = await backend.get(job_id)
    assert record is not None
    assert record.state == "dead"
    assert record.error is not None
    assert "handler result must be JSON-serialisable" in record.error


async def test_stats_count_states_types_and_oldest_age(dsn: str) -> None:
    async with plait.DurableBackend(dsn) as backend:
        await backend.submit_many(
            [
                plait.Job("a"),
                plait.Job("a"),
                plait.Job("b", not_before=time.time() + 60),
            ]
        )
        await anyio.sleep(0.05)
        stats = await backend.stats()
    assert stats.counts == {
        "queued": 3,
        "running": 0,
        "retrying": 0,
        "done": 0,
        "dead": 0,
        "cancelled": 0,
    }
    assert stats.by_type == {"a": {"queued": 2}, "b": {"queued": 1}}
    assert stats.by_queue == {"default": {"queued": 3}}
    assert stats.total == 3
    assert stats.pending == 3
    assert stats.oldest_queued_age is not None
    assert 0.04 <= stats.oldest_queued_age < 30


async def test_prune_deletes_old_finished_jobs_only(dsn: str) -> None:
    handlers = plait.JobHandlers()

    @handlers.register("ok")
    async def ok(job: plait.Job) -> None:
        return None

    @handlers.register("no")
    async def no(job: plait.Job) -> None:
        raise RuntimeError("no")

    async with plait.DurableBackend(dsn) as backend:
        await backend.submit_many([plait.Job("ok"), plait.Job("ok"), plait.Job("no")])
        await drain(dsn, handlers)
        await backend.submit(plait.Job("ok"))
        assert await backend.prune(older_than=3600) == 0
        assert await backend.prune(older_than=0) == 2
        counts = (await backend.stats()).counts
        assert counts["done"] == 0
        assert counts["dead"] == 1
        assert counts["queued"] == 1
        assert await backend.prune(older_than=0, dead=True) == 1


async def test_shutdown_lets_running_jobs_finish_within_the_timeout(dsn: str) -> None:
    handlers = plait.JobHandlers()
    started = anyio.Event()
    release = anyio.Event()

    @handlers.register("wait")
    async def wait(job: plait.Job) -> str:
        started.set()
        await release.wait()
        return "finished"

    async with (
        anyio.create_task_group() as tg,
        plait.DurableBackend(dsn, handlers=handlers, poll_interval=POLL) as backend,
    ):
        job_id = await backend.submit(plait.Job("wait"))
        await started.wait()
        tg.start_soon(_set_soon, release)
        report = await backend.shutdown(drain_timeout=20)
    assert report.finished == 1
    assert report.released == ()
    assert report.cancelled == ()
    async with plait.DurableBackend(dsn) as reader:
        record = await reader.get(job_id)
    assert record is not None
    assert record.state == "done"
    assert record.result == "finished"


async def _set_soon(event: anyio.Event) -> None:
    await anyio.sleep(0.05)
    event.set()


async def test_shutdown_releases_jobs_still_running_at_the_timeout(dsn: str) -> None:
    handlers = plait.JobHandlers()
    started = anyio.Event()
    cancelled = anyio.Event()

    @handlers.register("stuck")
    async def stuck(job: plait.Job) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    async with plait.DurableBackend(
        dsn, handlers=handlers, poll_interval=POLL
    ) as backend:
        job_id = await backend.submit(plait.Job("stuck"))
        await started.wait()
        report = await backend.shutdown(drain_timeout=0.05)
    assert cancelled.is_set()
    assert report.released == (job_id,)
    assert report.finished == 0
    async with plait.DurableBackend(dsn) as reader:
        record = await reader.get(job_id)
        stats = await reader.stats()
    assert record is not None
    assert record.state == "queued"
    assert record.attempts == 0
    assert stats.counts["running"] == 0


async def test_cancelling_a_worker_releases_its_jobs(dsn: str) -> None:
    handlers = plait.JobHandlers()
    started = anyio.Event()

    @handlers.register("stuck")
    async def stuck(job: plait.Job) -> None:
        started.set()
        await anyio.sleep_forever()

    async with plait.DurableBackend(dsn) as backend:
        job_id = await backend.submit(plait.Job("stuck"))
        worker = plait.JobWorker(dsn, handlers, poll_interval=POLL)
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            await started.wait()
            tg.cancel_scope.cancel()
        record = await backend.get(job_id)
    assert record is not None
    assert record.state == "queued"
    assert worker.stats.released == 1


async def test_unreachable_postgres_names_the_dsn_without_password() -> None:
    postgres_dsn()
    dsn = "postgresql://alice:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(plait.DatabaseUnavailableError) as info:
        async with plait.DurableBackend(dsn):
            pass
    message = str(info.value)
    assert "postgresql://alice:***@127.0.0.1:1/nowhere" in message
    assert "s3cret-pw" not in message


async def test_worker_retries_the_connection_with_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "not-yet"
    dsn = f"sqlite:///{missing}/jobs.db"
    handlers = plait.JobHandlers()
    done = anyio.Event()

    @handlers.register("ping")
    async def ping(job: plait.Job) -> None:
        done.set()

    worker = plait.JobWorker(dsn, handlers, poll_interval=POLL)
    caplog.set_level(logging.WARNING, logger="plait.durable")
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            while len(caplog.records) < 2:
                await anyio.sleep(0.02)
            missing.mkdir()
            async with plait.DurableBackend(dsn) as backend:
                await backend.submit(plait.Job("ping"))
                await done.wait()
            worker.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert "cannot open the SQLite job database" in messages[0]
    assert "retrying in" in messages[0]
    assert "(attempt 1)" in messages[0]
    assert any("(attempt 2)" in m for m in messages)


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    handlers = plait.JobHandlers()
    dsn = str(tmp_path / "j.db")
    with pytest.raises(
        ValueError, match=r"JobWorker\(\) concurrency must be a positive int, got 0"
    ):
        plait.JobWorker(dsn, handlers, concurrency=0)
    with pytest.raises(
        ValueError,
        match=r"JobWorker\(\) lease must be a finite number of seconds > 0, got 0",
    ):
        plait.JobWorker(dsn, handlers, lease=0)
    with pytest.raises(
        TypeError, match=r"JobWorker\(\) handlers must be a plait.JobHandlers"
    ):
        plait.JobWorker(dsn, {})  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"JobWorker\(\) grace must be a number of seconds >= 0"
    ):
        plait.JobWorker(dsn, handlers, grace=-1)


async def test_worker_retries_an_unreachable_postgres_without_leaking_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    postgres_dsn()
    dsn = "postgresql://carol:pa55word@127.0.0.1:1/jobs"
    worker = plait.JobWorker(dsn, plait.JobHandlers())
    caplog.set_level(logging.WARNING, logger="plait.durable")
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            while len(caplog.records) < 2:
                await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
    messages = [r.getMessage() for r in caplog.records]
    assert "postgresql://carol:***@127.0.0.1:1/jobs" in messages[0]
    assert "(attempt 2)" in messages[1]
    assert not any("pa55word" in m for m in messages)


async def test_postgres_worker_wakes_on_notify_not_by_polling(tmp_path: Path) -> None:
    handlers = plait.JobHandlers()

    @handlers.register("ping")
    async def ping(job: plait.Job) -> str:
        return "pong"

    for dsn in make_dsn("postgres", tmp_path):
        # A minute between safety-net polls: only NOTIFY can wake it in time.
        worker = plait.JobWorker(dsn, handlers, poll_interval=60)
        async with (
            plait.DurableBackend(dsn) as backend,
            anyio.create_task_group() as tg,
        ):
            await tg.start(worker.run)
            first = await backend.submit(plait.Job("ping"))
            record = await backend.wait(first, timeout=10)
            second = await backend.submit(plait.Job("ping"))
            again = await backend.wait(second, timeout=10)
            worker.stop()
        assert record.result == again.result == "pong"
