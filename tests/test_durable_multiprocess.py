"""Worker processes: 10,000 jobs over three of them, SIGKILL and SIGTERM.

The three workers run on asyncio, asyncio+uvloop and trio, so every
multi-process scenario exercises all three event loops at once.
"""

from __future__ import annotations

import random
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_scripts.apps import FLAKY_ATTEMPTS
from durable_scripts.support import ENGINES, Worker, make_dsn, start_worker, wait_until
from plait._jobs.durable._calls import open_engine
from plait._jobs.durable._postgres import PostgresEngine
from plait._jobs.durable._sqlite import SQLiteEngine

LOOPS = ("asyncio", "uvloop", "trio")
STOPPED = re.compile(
    r"stopped: claimed (\d+), done (\d+), retried (\d+), dead (\d+), "
    r"released (\d+), rejected (\d+)"
)


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


@pytest.fixture
def engine(dsn: str) -> Iterator[SQLiteEngine | PostgresEngine]:
    eng = open_engine(dsn)
    assert isinstance(eng, SQLiteEngine | PostgresEngine)
    try:
        yield eng
    finally:
        eng.close()


def submit(dsn: str, jobs: list[tuple[str, dict[str, Any]]]) -> list[str]:
    import anyio

    import plait

    async def go() -> list[str]:
        async with plait.DurableBackend(dsn) as backend:
            ids: list[str] = []
            for start in range(0, len(jobs), 500):
                chunk = jobs[start : start + 500]
                ids += await backend.submit_many(
                    [plait.Job(type_, payload) for type_, payload in chunk]
                )
            return ids

    return anyio.run(go)


def stop(worker: Worker, *, timeout: float = 60) -> tuple[int, str]:
    worker.send_signal(signal.SIGTERM)
    return worker.finish(timeout)


def counts(engine: SQLiteEngine | PostgresEngine) -> dict[str, int]:
    return engine.stats(now=time.time()).counts


def test_10k_jobs_three_workers_every_job_accounted_for(
    dsn: str, engine: SQLiteEngine | PostgresEngine
) -> None:
    rng = random.Random(7)
    # fail = how many runs fail before one succeeds; >= FLAKY_ATTEMPTS dies.
    plan = [rng.choice((0, 0, 0, 0, 1, 1, 2, 3)) for _ in range(10_000)]
    workers = [
        start_worker(
            dsn,
            "--concurrency",
            "32",
            "--lease",
            "10",
            "--poll-interval",
            "0.05",
            backend=loop,
        )
        for loop in LOOPS
    ]
    try:
        ids = submit(dsn, [("flaky", {"fail": fail}) for fail in plan])
        wait_until(
            lambda: counts(engine)["done"] + counts(engine)["dead"] == 10_000,
            timeout=240,
            what="10,000 jobs to finish",
            every=0.2,
        )
    finally:
        outcomes = [stop(w) for w in workers]
    for code, err in outcomes:
        assert code == 0, err
    stats = [tuple(map(int, STOPPED.findall(err)[-1])) for _, err in outcomes]
    expected_dead = sum(fail >= FLAKY_ATTEMPTS for fail in plan)
    final = counts(engine)
    assert final["dead"] == expected_dead
    assert final["done"] == 10_000 - expected_dead
    assert final["queued"] == final["running"] == final["retrying"] == 0
    # Every worker took part, and the outcomes they had accepted add up to
    # exactly one final outcome per job: nothing was recorded twice.
    assert all(s[0] > 0 for s in stats), stats
    assert sum(s[1] for s in stats) == final["done"]
    assert sum(s[3] for s in stats) == final["dead"]
    assert sum(s[2] for s in stats) == sum(min(f, FLAKY_ATTEMPTS - 1) for f in plan)
    assert sum(s[5] for s in stats) == 0
    rows = engine.execute("SELECT id, state, attempts, result FROM plait_jobs")
    by_id = {str(row[0]): row for row in rows}
    assert len(by_id) == 10_000
    for job_id, fail in zip(ids, plan, strict=True):
        _, state, attempts, result = by_id[job_id]
        if fail >= FLAKY_ATTEMPTS:
            assert (state, attempts, result) == ("dead", FLAKY_ATTEMPTS, None)
        else:
            assert (state, attempts, result) == ("done", fail + 1, str(fail + 1))


def test_sigkill_mid_job_is_redelivered_after_the_lease(
    dsn: str, engine: SQLiteEngine | PostgresEngine, tmp_path: Path
) -> None:
    marker = tmp_path / "first-run"
    (job_id,) = submit(dsn, [("once-blocks", {"marker": str(marker)})])
    doomed_name = "doomed"
    doomed = start_worker(
        dsn, "--lease", "1.5", "--poll-interval", "0.05", "--name", doomed_name
    )
    try:
        wait_until(marker.exists, timeout=60, what="the first run to start")
    finally:
        doomed.kill()
        doomed.finish(30)
    killed_at = time.time()
    assert counts(engine)["running"] == 1
    rescuer = start_worker(
        dsn, "--lease", "1.5", "--poll-interval", "0.05", backend="trio"
    )
    try:
        record = wait_until(
            lambda: (r := engine.get(int(job_id))) and r.state == "done" and r,
            timeout=60,
            what="the job to be redelivered and finish",
        )
    finally:
        code, err = stop(rescuer)
    assert code == 0, err
    assert time.time() - killed_at >= 0.5
    assert record.lost_leases == 1
    assert record.attempts == 1
    assert record.result == rescuer.pid
    assert int(marker.read_text()) == doomed.pid
    assert (
        f"job {job_id} (once-blocks, queue default) attempt 1: the lease of worker "
        f"{doomed_name} expired (it died or hung); requeued"
    ) in err


@pytest.mark.parametrize("loop", ["asyncio", "trio"])
def test_sigterm_finishes_or_releases_in_flight_jobs_within_grace(
    dsn: str, engine: SQLiteEngine | PostgresEngine, tmp_path: Path, loop: str
) -> None:
    short = [("sleep", {"seconds": 0.3, "marker_dir": str(tmp_path)})] * 3
    long = [("sleep", {"seconds": 3600, "marker_dir": str(tmp_path)})] * 2
    ids = submit(dsn, short + long)
    worker = start_worker(
        dsn,
        "--concurrency",
        "5",
        "--grace",
        "1.5",
        "--poll-interval",
        "0.05",
        "--name",
        "first",
        backend=loop,
    )
    wait_until(
        lambda: len(list(tmp_path.glob("started-*"))) == 5,
        timeout=60,
        what="all five jobs to start",
    )
    # A second, idle worker: on PostgreSQL its safety-net poll is a minute
    # away, so only the release's NOTIFY can hand it the jobs in time.
    poll = "60" if isinstance(engine, PostgresEngine) else "0.05"
    second = start_worker(
        dsn, "--poll-interval", poll, "--grace", "0", "--name", "second"
    )
    try:
        sent = time.monotonic()
        code, err = stop(worker, timeout=30)
        elapsed = time.monotonic() - sent
        assert code == 0, err
        assert elapsed < 10, f"took {elapsed:.1f} s to stop with a 1.5 s grace"
        rows = engine.execute("SELECT id, state, attempts FROM plait_jobs")
        states = {str(r[0]): tuple(r[1:]) for r in rows}
        for job_id in ids[:3]:
            assert states[job_id] == ("done", 1)
        assert STOPPED.findall(err)[-1][4] == "2"
        wait_until(
            lambda: (
                engine.execute(
                    "SELECT count(*) FROM plait_jobs WHERE state = 'running' "
                    "AND lease_owner = 'second'"
                )[0][0]
                == 2
            ),
            timeout=20,
            what="the second worker to take the released jobs",
        )
    finally:
        code, err = stop(second, timeout=30)
    assert code == 0, err
    rows = engine.execute("SELECT id, state, attempts FROM plait_jobs")
    states = {str(r[0]): tuple(r[1:]) for r in rows}
    for job_id in ids[3:]:
        assert states[job_id] == ("queued", 0)
    assert counts(engine)["running"] == 0
