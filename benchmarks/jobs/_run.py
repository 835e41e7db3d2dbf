"""Measure job throughput through submit and work, per engine and worker count."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio

import plait
from plait._jobs.durable._calls import open_engine

ROOT = Path(__file__).resolve().parents[2]
APP = "benchmarks.jobs._apps:handlers"
BATCH = 1000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.jobs")
    parser.add_argument("--n", type=int, default=10_000, help="jobs per run")
    parser.add_argument("--quick", action="store_true", help="N=500 smoke run")
    parser.add_argument("--workers", default="1,3", help="worker process counts")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--only", default="tracked,sqlite,postgres,procrastinate,enqueue"
    )
    parser.add_argument("--postgres", default=os.environ.get("PLAIT_TEST_POSTGRES_DSN"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    n = 500 if args.quick else args.n
    counts = [int(w) for w in args.workers.split(",")]
    only = set(args.only.split(","))
    results: list[dict[str, Any]] = []

    def record(name: str, workers: int | None, jobs: int, seconds: float) -> None:
        rate = jobs / seconds
        results.append(
            {
                "case": name,
                "workers": workers,
                "jobs": jobs,
                "seconds": seconds,
                "jobs_per_s": rate,
            }
        )
        who = "" if workers is None else f", {workers} worker process(es)"
        print(
            f"{name}{who}: {jobs} jobs in {seconds:.2f} s = {rate:,.0f} jobs/s",
            flush=True,
        )

    if "tracked" in only:
        record(
            "plait TrackedBackend (in-process, not durable)",
            None,
            n,
            anyio.run(_tracked, n),
        )
    engines: list[tuple[str, Callable[[], contextlib.AbstractContextManager[str]]]]
    engines = [("sqlite", _sqlite_dsn)]
    if args.postgres:
        engines.append(("postgres", lambda: _pg_schema(args.postgres)))
    else:
        print("PostgreSQL cases skipped: no --postgres / $PLAIT_TEST_POSTGRES_DSN")
    for engine, make in engines:
        if engine not in only:
            continue
        if "enqueue" in only:
            with make() as dsn:
                one = min(n, 2000)
                record(
                    f"plait {engine} enqueue, one submit() per job",
                    None,
                    one,
                    anyio.run(_enqueue, dsn, one, 1),
                )
            with make() as dsn:
                record(
                    f"plait {engine} enqueue, submit_many() of {BATCH}",
                    None,
                    n,
                    anyio.run(_enqueue, dsn, n, BATCH),
                )
        for workers in counts:
            with make() as dsn:
                record(
                    f"plait {engine} submit+work",
                    workers,
                    n,
                    _plait_workers(dsn, n, workers, args.concurrency),
                )
    if args.postgres and "procrastinate" in only:
        try:
            import procrastinate  # noqa: F401
        except ImportError:
            print("procrastinate cases skipped: procrastinate is not installed")
        else:
            for workers in counts:
                with _pg_schema(args.postgres) as dsn:
                    seconds, enqueue_one, enqueue_batch = _procrastinate(
                        dsn, n, workers
                    )
                    if workers == counts[0] and "enqueue" in only:
                        record(
                            "procrastinate enqueue, one defer_async() per job",
                            None,
                            enqueue_one[0],
                            enqueue_one[1],
                        )
                        record(
                            f"procrastinate enqueue, batch_defer_async() of {BATCH}",
                            None,
                            enqueue_batch[0],
                            enqueue_batch[1],
                        )
                    record(
                        "procrastinate (concurrency 10) submit+work",
                        workers,
                        n,
                        seconds,
                    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


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
    one = min(n, 1000)
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


@contextlib.contextmanager
def _sqlite_dsn() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield "sqlite:///" + os.path.join(tmp, "jobs.db")


@contextlib.contextmanager
def _pg_schema(base: str) -> Iterator[str]:
    import psycopg

    schema = "bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
