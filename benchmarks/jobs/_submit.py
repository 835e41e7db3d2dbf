"""Submit and work together: the in-process TrackedBackend, plait's enqueue
rates and submit+work per engine, and procrastinate on the same server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import anyio

import plait
from plait._jobs.durable._calls import open_engine

from . import _dbs
from ._procs import ROOT

APP = "benchmarks.jobs._apps:handlers"
BATCH = 1000

Record = Callable[[str, int | None, int, float], None]


def submit_cases(
    only: set[str],
    engines: list[str],
    postgres: str | None,
    *,
    n: int,
    counts: list[int],
    concurrency: int,
    record: Record,
) -> None:
    """Run the submit-side cases named in *only* and *record* each figure."""
    if "tracked" in only:
        seconds = anyio.run(_tracked, n)
        record("plait TrackedBackend (in-process, not durable)", None, n, seconds)
    for engine in engines:
        if "enqueue" in only:
            with _dbs.make(engine, postgres) as dsn:
                one = min(n // 5, 2000)
                seconds = anyio.run(_enqueue, dsn, one, 1)
                record(
                    f"plait {engine} enqueue, one submit() per job", None, one, seconds
                )
            with _dbs.make(engine, postgres) as dsn:
                seconds = anyio.run(_enqueue, dsn, n, BATCH)
                record(
                    f"plait {engine} enqueue, submit_many() of {BATCH}",
                    None,
                    n,
                    seconds,
                )
        if "submit" in only:
            for workers in counts:
                with _dbs.make(engine, postgres) as dsn:
                    seconds = _plait_workers(dsn, n, workers, concurrency)
                    record(f"plait {engine} submit+work", workers, n, seconds)
    if postgres and "postgres" in engines and "procrastinate" in only:
        try:
            import procrastinate  # noqa: F401
        except ImportError:
            print("procrastinate cases skipped: procrastinate is not installed")
            return
        for workers in counts:
            with _dbs.pg_schema(postgres) as dsn:
                seconds, (one_n, one_s), (batch_n, batch_s) = _procrastinate(
                    dsn, n, workers
                )
            if workers == counts[0] and "enqueue" in only:
                record(
                    "procrastinate enqueue, one defer_async() per job",
                    None,
                    one_n,
                    one_s,
                )
                record(
                    f"procrastinate enqueue, batch_defer_async() of {BATCH}",
                    None,
                    batch_n,
                    batch_s,
                )
            record("procrastinate (concurrency 10) submit+work", workers, n, seconds)


async def _tracked(n: int) -> float:
    from benchmarks.jobs._apps import handlers

    started = time.perf_counter()
    async with plait.TrackedBackend(handlers) as backend:
        await backend.submit_many([plait.Job("noop", {"i": i}) for i in range(n)])
    seconds = time.perf_counter() - started
    stats = backend.stats()
    assert stats.done == n, stats
    return seconds


async def _enqueue(dsn: str, n: int, batch: int) -> float:
    async with plait.DurableBackend(dsn) as backend:
        jobs = [plait.Job("noop", {"i": i}) for i in range(n)]
        started = time.perf_counter()
        if batch == 1:
            for job in jobs:
                await backend.submit(job)
        else:
            for start in range(0, n, batch):
                await backend.submit_many(jobs[start : start + batch])
        seconds = time.perf_counter() - started
        assert (await backend.stats()).counts["queued"] == n
    return seconds


def _plait_workers(dsn: str, n: int, workers: int, concurrency: int) -> float:
    engine = open_engine(dsn)
    procs = [
        _spawn(
            [
                sys.executable,
                "-m",
                "plait._jobs.durable._cli",
                "worker",
                dsn,
                "--app",
                APP,
                "--concurrency",
                str(concurrency),
                "--poll-interval",
                "0.05",
            ]
        )
        for _ in range(workers)
    ]
    try:
        warm = 20 * workers
        anyio.run(_submit, dsn, warm)
        _wait_done(lambda: engine.stats(now=time.time()).counts["done"], warm, procs)
        started = time.perf_counter()
        anyio.run(_submit, dsn, n)
        _wait_done(
            lambda: engine.stats(now=time.time()).counts["done"], warm + n, procs
        )
        return time.perf_counter() - started
    finally:
        _stop(procs)
        engine.close()


async def _submit(dsn: str, n: int) -> None:
    async with plait.DurableBackend(dsn) as backend:
        for start in range(0, n, BATCH):
            await backend.submit_many(
                [
                    plait.Job("noop", {"i": i})
                    for i in range(start, min(n, start + BATCH))
                ]
            )


def _procrastinate(
    dsn: str, n: int, workers: int
) -> tuple[float, tuple[int, float], tuple[int, float]]:
    import psycopg

    os.environ["PLAIT_BENCH_PROCRASTINATE_DSN"] = dsn
    from benchmarks.jobs._apps import make_procrastinate_app

    app = make_procrastinate_app()

    async def prepare_and_enqueue(count: int, batch: bool | None) -> float:
        async with app.open_async():
            if batch is None:
                await app.schema_manager.apply_schema_async()
                return 0.0
            task = app.tasks["noop"]
            started = time.perf_counter()
            if batch:
                for start in range(0, count, BATCH):
                    await task.batch_defer_async(
                        *({"i": i} for i in range(start, min(count, start + BATCH)))
                    )
            else:
                for i in range(count):
                    await task.defer_async(i=i)
            return time.perf_counter() - started

    def succeeded() -> int:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            ).fetchone()
            failed = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'"
            ).fetchone()
        assert failed is not None
        assert failed[0] == 0, "procrastinate jobs failed"
        return int(row[0]) if row else 0

    anyio.run(prepare_and_enqueue, 0, None)
    one = min(n // 10, 1000)
    one_seconds = anyio.run(prepare_and_enqueue, one, False)
    procs = [
        _spawn(
            [
                sys.executable,
                "-m",
                "procrastinate",
                "--app",
                "benchmarks.jobs._apps.app",
                "--log-level",
                "warning",
                "worker",
                "--concurrency",
                "10",
            ]
        )
        for _ in range(workers)
    ]
    try:
        _wait_done(succeeded, one, procs)
        started = time.perf_counter()
        batch_seconds = anyio.run(prepare_and_enqueue, n, True)
        _wait_done(succeeded, one + n, procs)
        seconds = time.perf_counter() - started
    finally:
        _stop(procs)
    return seconds, (one, one_seconds), (n, batch_seconds)


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'src'}")
    # A file, not a pipe: a chatty worker would block on a full pipe.
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
    )


def _wait_done(
    count: Callable[[], int], target: int, procs: list[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + 600
    while count() < target:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited early: {proc.args!r}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs not done after 600 s ({count()} of {target})")
        time.sleep(0.01)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
