"""JobWorker and DurableBackend: failures of every kind, cancellation,
timeouts, queues, logs, the registry and the lifecycle, on SQLite and
PostgreSQL."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import plait
from durable_scripts.support import ENGINES, make_dsn, own_cancellation
from plait._jobs.durable._calls import open_engine
from plait._jobs.durable._outcome import error_type

POLL = 0.02


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


async def drain(
    dsn: str, handlers: plait.JobHandlers, **options: Any
) -> plait.JobWorker:
    worker = plait.JobWorker(
        dsn, handlers, until_empty=True, poll_interval=POLL, **options
    )
    with anyio.fail_after(30):
        await worker.run()
    return worker


def history(dsn: str, job_id: str) -> list[tuple[Any, ...]]:
    engine = open_engine(dsn)
    try:
        return [
            (a.attempt, a.outcome, a.error_type, a.message)
            for a in engine.attempts(int(job_id))
        ]
    finally:
        engine.close()


class Custom(BaseException):
    pass


async def test_a_handler_raising_its_own_cancellation_is_a_failed_attempt(
    dsn: str,
) -> None:
    # Defect 8: it used to end JobWorker.run() quietly with jobs still queued.
    handlers = plait.JobHandlers()

    @handlers.register("cancels")
    async def cancels(job: plait.Job) -> None:
        raise await own_cancellation()

    @handlers.register("ok")
    async def ok(job: plait.Job) -> str:
        return "ran"

    async with plait.DurableBackend(dsn) as backend:
        bad, good = await backend.submit_many(
            [plait.Job("cancels", priority=1), plait.Job("ok")]
        )
        worker = await drain(dsn, handlers, concurrency=1)
        bad_record = await backend.get(bad)
        good_record = await backend.get(good)
    assert bad_record is not None
    assert good_record is not None
    assert bad_record.state == "dead"
    assert good_record.state == "done"
    assert good_record.result == "ran"
    ((attempt, outcome, error_type, _),) = history(dsn, bad)
    assert (attempt, outcome) == (1, "failed")
    assert error_type is not None
    assert "Cancel" in error_type
    assert worker.stats.dead == 1
    assert worker.stats.done == 1


@pytest.mark.parametrize(
    "error", [SystemExit(3), Custom("custom"), KeyboardInterrupt()]
)
async def test_a_handler_raising_a_base_exception_is_dead_lettered_after_its_attempts(
    dsn: str, error: BaseException
) -> None:
    # Defect 9: the job was released with no error recorded, and crashed
    # every worker in turn.
    handlers = plait.JobHandlers()

    @handlers.register("fatal", retry=plait.RetryPolicy(attempts=2, base_delay=0))
    async def fatal(job: plait.Job) -> None:
        raise error

    @handlers.register("ok")
    async def ok(job: plait.Job) -> None:
        return None

    async with plait.DurableBackend(dsn) as backend:
        bad, good = await backend.submit_many([plait.Job("fatal"), plait.Job("ok")])
        worker = await drain(dsn, handlers)
        record = await backend.get(bad)
        assert (await backend.get(good)).state == "done"  # type: ignore[union-attr]
    assert record is not None
    assert record.state == "dead"
    assert record.attempts == 2
    assert record.error is not None
    assert type(error).__name__ in record.error
    assert [h[:3] for h in history(dsn, bad)] == [
        (1, "failed", error_type(error)),
        (2, "failed", error_type(error)),
    ]
    assert (worker.stats.retried, worker.stats.dead) == (1, 1)


def test_job_fields_are_checked_at_construction() -> None:
    # Defect 10: not_before="soon" was stored as text and crashed workers.
    with pytest.raises(TypeError, match=r"Job\(\) not_before must be a finite"):
        plait.Job("t", not_before="soon")  # type: ignore[arg-type]
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match=r"Job\(\) not_before must be"):
            plait.Job("t", not_before=bad)
    with pytest.raises(ValueError, match=r"Job\(\) priority must be an int between"):
        plait.Job("t", priority=2**70)
    with pytest.raises(TypeError, match=r"Job\(\) priority must be"):
        plait.Job("t", priority=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"Job\(\) queue must be a non-empty str"):
        plait.Job("t", queue="")
    with pytest.raises(TypeError, match=r"Job\(\) idempotency_key must be"):
        plait.Job("t", idempotency_key=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Job\(\) type must be a non-empty str"):
        plait.Job(None)  # type: ignore[arg-type]
    for field in ("type", "queue", "idempotency_key"):
        fields: dict[str, Any] = {"type": "t", field: "a\x00b"}
        with pytest.raises(
            ValueError, match=rf"Job\(\) {field} must be a str without NUL"
        ):
            plait.Job(**fields)
    assert plait.Job("t", not_before=0, priority=-(2**31)).not_before == 0


def test_bad_arguments_are_refused_at_the_call(tmp_path: Path) -> None:
    path = str(tmp_path / "jobs.db")
    handlers = plait.JobHandlers()
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: plait.DurableBackend(None), TypeError, r"DurableBackend\(\) dsn"),  # type: ignore[arg-type]
        (lambda: plait.DurableBackend(""), ValueError, r"DurableBackend\(\) dsn"),
        (lambda: plait.DurableBackend(":memory:"), ValueError, "not a private"),
        (lambda: plait.DurableBackend("mysql://x/y"), ValueError, "postgresql://"),
        (
            lambda: plait.DurableBackend(path, concurrency=0),
            ValueError,
            r"DurableBackend\(\) concurrency must be a positive int, got 0",
        ),
        (
            lambda: plait.DurableBackend(path, lease=math.inf),
            ValueError,
            r"DurableBackend\(\) lease must be a finite",
        ),
        (
            lambda: plait.DurableBackend(path, work="yes"),  # type: ignore[arg-type]
            TypeError,
            r"DurableBackend\(\) work must be a bool",
        ),
        (
            lambda: plait.JobWorker(path, handlers, poll_interval=math.inf),
            ValueError,
            r"JobWorker\(\) poll_interval must be a finite",
        ),
        (
            lambda: plait.JobWorker(path, handlers, queues="mail"),
            TypeError,
            r"JobWorker\(\) queues must be a list of queue names",
        ),
        (
            lambda: plait.JobWorker(path, handlers, queues={"mail": 0}),
            ValueError,
            r"JobWorker\(\) queues\['mail'\] must be a positive int",
        ),
        (
            lambda: plait.JobWorker(path, handlers, queues=[]),
            ValueError,
            r"JobWorker\(\) queues must be at least one queue",
        ),
        (
            lambda: plait.JobWorker(path, handlers, name=5),  # type: ignore[arg-type]
            TypeError,
            r"JobWorker\(\) name must be a non-empty str, got 5",
        ),
        (
            lambda: plait.JobWorker(path, handlers, name="w\x00"),
            ValueError,
            r"JobWorker\(\) name must be a str without NUL",
        ),
        (
            lambda: handlers.register("t", timeout=0),
            ValueError,
            r"JobHandlers.register\(\) timeout must be",
        ),
    ]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make()
    assert not (tmp_path / "None").exists()


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no words for it")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (ValueError("bad\x00byte"), "bad\\x00byte"),
        (UnprintableError(), "<exception str() failed>"),
    ],
    ids=["nul", "broken-str"],
)
async def test_any_error_text_is_recorded_and_the_worker_goes_on(
    dsn: str, error: Exception, message: str
) -> None:
    # A NUL in an error made PostgreSQL refuse the ack: run() raised, and the
    # job came back to fail the next worker the same way.
    handlers = plait.JobHandlers()

    @handlers.register("odd", retry=plait.RetryPolicy(attempts=1))
    async def odd(job: plait.Job) -> None:
        raise error

    @handlers.register("ok")
    async def ok(job: plait.Job) -> str:
        return "ran"

    async with plait.DurableBackend(dsn) as backend:
        bad, good = await backend.submit_many(
            [plait.Job("odd", priority=1), plait.Job("ok")]
        )
        await drain(dsn, handlers, concurrency=1)
        record = await backend.get(bad)
        assert (await backend.get(good)).state == "done"  # type: ignore[union-attr]
    assert record is not None
    assert record.state == "dead"
    assert record.error is not None
    assert type(error).__name__ in record.error
    ((attempt, outcome, _, recorded),) = history(dsn, bad)
    assert (attempt, outcome, recorded) == (1, "failed", message)


async def test_a_corrupt_payload_is_inspectable_and_dead_lettered(dsn: str) -> None:
    # Defect 11: get() and wait() raised a bare JSONDecodeError.
    handlers = plait.JobHandlers()
    ran: list[object] = []

    @handlers.register("t")
    async def t(job: plait.Job) -> None:
        ran.append(job.payload)

    async with plait.DurableBackend(dsn) as backend:
        job_id = await backend.submit(plait.Job("t", {"n": 1}))
        engine = open_engine(dsn)
        engine.execute(
            "UPDATE plait_jobs SET payload = '{not json' WHERE id = ?", (int(job_id),)
        )
        engine.close()
        record = await backend.get(job_id)
        assert record is not None
        assert record.payload == "{not json"
        assert record.decode_error is not None
        assert (
            f"the stored payload of job {job_id} is not valid JSON"
            in record.decode_error
        )
        await drain(dsn, handlers)
        final = await backend.wait(job_id, timeout=10)
    assert ran == []
    assert final.state == "dead"
    assert final.decode_error is not None
    ((_, outcome, error_type, _),) = history(dsn, job_id)
    assert (outcome, error_type) == ("failed", "json.decoder.JSONDecodeError")


async def test_cancelling_a_queued_job_means_it_never_runs(dsn: str) -> None:
    handlers = plait.JobHandlers()
    ran: list[str | None] = []

    @handlers.register("t")
    async def t(job: plait.Job) -> None:
        ran.append(job.id)

    async with plait.DurableBackend(dsn) as backend:
        doomed, kept = await backend.submit_many([plait.Job("t"), plait.Job("t")])
        assert await backend.cancel(doomed) == "cancelled"
        assert await backend.cancel(doomed) == "cancelled"
        with pytest.raises(KeyError, match="no job with id '999999'"):
            await backend.cancel("999999")
        await drain(dsn, handlers)
        record = await backend.get(doomed)
        stats = await backend.stats()
        assert await backend.cancel(kept) == "done"
    assert ran == [kept]
    assert record is not None
    assert record.state == "cancelled"
    assert record.finished_at is not None
    assert stats.counts["cancelled"] == 1


async def test_cancelling_a_running_job_cancels_its_handler_and_is_final(
    dsn: str,
) -> None:
    handlers = plait.JobHandlers()
    started = anyio.Event()
    saw_cancel: list[bool] = []

    @handlers.register("slow", retry=plait.RetryPolicy(attempts=3, base_delay=0))
    async def slow(job: plait.Job) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        except BaseException:
            saw_cancel.append(True)
            raise

    async with plait.DurableBackend(
        dsn, handlers=handlers, poll_interval=POLL
    ) as backend:
        job_id = await backend.submit(plait.Job("slow"))
        await started.wait()
        assert await backend.cancel(job_id) == "running"
        record = await backend.wait(job_id, timeout=10)
    assert saw_cancel == [True]
    assert record.state == "cancelled"
    assert record.attempts == 1
    assert history(dsn, job_id) == [
        (1, "cancelled", "Cancelled", "cancelled on request while it ran")
    ]


async def test_another_workers_running_job_is_cancelled_at_its_next_heartbeat(
    dsn: str,
) -> None:
    handlers = plait.JobHandlers()
    started = anyio.Event()
    cancelled_at: list[float] = []

    @handlers.register("slow", retry=plait.RetryPolicy(attempts=3, base_delay=0))
    async def slow(job: plait.Job) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled_at.append(anyio.current_time())

    lease = 1.2
    worker = plait.JobWorker(dsn, handlers, lease=lease, poll_interval=POLL)
    async with plait.DurableBackend(dsn) as backend, anyio.create_task_group() as tg:
        await tg.start(worker.run)
        job_id = await backend.submit(plait.Job("slow"))
        await started.wait()
        asked = anyio.current_time()
        assert await backend.cancel(job_id) == "running"
        record = await backend.wait(job_id, timeout=10)
        worker.stop()
    assert record.state == "cancelled"
    assert worker.stats.cancelled == 1
    # The holder polls for cancellations at each heartbeat (lease / 4).
    assert cancelled_at[0] - asked < lease


async def test_a_handler_that_overruns_its_timeout_is_a_failed_attempt(
    dsn: str,
) -> None:
    handlers = plait.JobHandlers()

    @handlers.register(
        "hangs", timeout=0.05, retry=plait.RetryPolicy(attempts=2, base_delay=0)
    )
    async def hangs(job: plait.Job) -> None:
        await anyio.sleep_forever()

    async with plait.DurableBackend(dsn) as backend:
        job_id = await backend.submit(plait.Job("hangs"))
        worker = await drain(dsn, handlers)
        record = await backend.get(job_id)
    assert record is not None
    assert record.state == "dead"
    assert [h[:3] for h in history(dsn, job_id)] == [
        (1, "failed", "TimeoutError"),
        (2, "failed", "TimeoutError"),
    ]
    assert "overran its handler's timeout of 0.05 s" in (record.error or "")
    assert worker.stats.dead == 1


async def test_queues_have_their_own_concurrency_and_priorities(dsn: str) -> None:
    handlers = plait.JobHandlers()
    running = {"mail": 0, "default": 0}
    most = {"mail": 0, "default": 0}
    mail_order: list[int] = []

    async def work(job: plait.Job) -> None:
        queue = job.queue or "default"
        running[queue] += 1
        most[queue] = max(most[queue], running[queue])
        if queue == "mail":
            mail_order.append(job.priority)
        await anyio.sleep(0.02)
        running[queue] -= 1

    handlers.add("mail.send", work, retry=plait.RetryPolicy(attempts=1), queue="mail")
    handlers.add("report", work, retry=plait.RetryPolicy(attempts=1))
    async with plait.DurableBackend(dsn, handlers=handlers, work=False) as backend:
        ids = await backend.submit_many(
            [plait.Job("mail.send", priority=p) for p in (1, 5, 3, 9)]
            + [plait.Job("report") for _ in range(8)]
            + [plait.Job("report", queue="elsewhere")]
        )
        await drain(dsn, handlers, queues={"mail": 1, "default": 3})
        records = [await backend.get(i) for i in ids]
    assert most == {"mail": 1, "default": 3}
    assert mail_order == [9, 5, 3, 1]
    assert [r.queue for r in records if r] == ["mail"] * 4 + ["default"] * 8 + [
        "elsewhere"
    ]
    # Nobody serves "elsewhere": its job waits.
    assert [r.state for r in records if r].count("done") == 12
    assert records[-1] is not None
    assert records[-1].state == "queued"


async def test_failures_are_logged_with_structured_fields(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    handlers = plait.JobHandlers()

    failed_at: list[float] = []

    @handlers.register(
        "bad", retry=plait.RetryPolicy(attempts=2, base_delay=0.5, jitter=0)
    )
    async def bad(job: plait.Job) -> None:
        failed_at.append(time.time())
        raise ValueError(f"broken on attempt {job.attempt}")

    caplog.set_level(logging.DEBUG, logger="plait")
    async with plait.DurableBackend(dsn) as backend:
        job_id = await backend.submit(plait.Job("bad", queue="q1"))
        await drain(dsn, handlers, queues=["q1"])
    events: list[Any] = [r for r in caplog.records if hasattr(r, "event")]
    retry = next(r for r in events if r.event == "job.retry")
    dead = next(r for r in events if r.event == "job.dead")
    tracebacks = [r for r in events if r.event == "job.traceback"]
    for record, attempt in ((retry, 1), (dead, 2)):
        assert record.job_id == job_id
        assert record.job_type == "bad"
        assert record.queue == "q1"
        assert record.attempt == attempt
        assert record.max_attempts == 2
        assert record.error_type == "ValueError"
        assert record.error_message == f"broken on attempt {attempt}"
        assert record.name.startswith("plait")
    assert retry.levelno == logging.WARNING
    # The retry is due 0.5 s after the failure; retry_in is what is left of
    # that when the worker logs it, after the round trip that recorded it
    # (which a loaded machine may make long).
    assert retry.retry_in <= 0.5
    assert retry.created + retry.retry_in >= failed_at[0] + 0.5
    assert f"job {job_id} (bad, queue q1) attempt 1 of 2 failed" in retry.getMessage()
    assert dead.levelno == logging.ERROR
    assert "dead-lettered after attempt 2 of 2" in dead.getMessage()
    assert len(tracebacks) == 2
    assert all(r.levelno == logging.DEBUG for r in tracebacks)
    assert "Traceback (most recent call last)" in tracebacks[0].traceback


async def test_a_worker_registers_itself_while_it_runs(dsn: str) -> None:
    handlers = plait.JobHandlers()
    worker = plait.JobWorker(
        dsn, handlers, queues={"a": 2, "b": 1}, poll_interval=POLL, name="w-1"
    )
    engine = open_engine(dsn)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(worker.run)
            with anyio.fail_after(10):
                while not engine.workers():
                    await anyio.sleep(0.01)
            (record,) = engine.workers()
            worker.stop()
        assert (record.name, record.queues, record.state) == (
            "w-1",
            {"a": 2, "b": 1},
            "running",
        )
        assert record.alive(time.time())
        assert record.expires_at == pytest.approx(record.last_seen + worker.lease)
        assert engine.workers() == []
    finally:
        engine.close()


async def test_an_error_in_the_block_leaves_as_itself(dsn: str) -> None:
    handlers = plait.JobHandlers()

    @handlers.register("t")
    async def t(job: plait.Job) -> None:
        await anyio.sleep_forever()

    backend = plait.DurableBackend(dsn, handlers=handlers, poll_interval=POLL)
    with pytest.raises(ValueError, match="from the block"):
        async with backend:
            await backend.submit(plait.Job("t"))
            await anyio.sleep(0.05)
            raise ValueError("from the block")
    assert backend.worker is not None
    assert not backend.worker.held()
    with pytest.raises(RuntimeError, match="DurableBackend can be entered only once"):
        async with backend:
            pass  # pragma: no cover - refused on entering
    async with plait.DurableBackend(dsn) as reader:
        assert (await reader.stats()).counts["running"] == 0
