"""Schedules: tick arithmetic, cron with daylight saving, exactly one job per
tick however many workers fire, and worker processes killed at random."""

from __future__ import annotations

import datetime
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import plait
from durable_scripts.support import ENGINES, Worker, make_dsn, start_worker
from plait._jobs.durable._calls import open_engine
from plait._jobs.durable._schedules import plan, to_record

WANTED = 8
"""Ticks the chaos test waits for, however long slow process starts make it."""
SCHEDULED_APP = (
    str(Path(__file__).parent / "durable_scripts" / "scheduled.py") + ":handlers"
)
PARIS = "Europe/Paris"


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


def at(text: str, tz: str = PARIS) -> float:
    return (
        datetime.datetime.fromisoformat(text)
        .replace(
            tzinfo=plait._jobs._schedule.zone("test", tz)  # type: ignore[attr-defined]
        )
        .timestamp()
    )


def test_interval_ticks_fall_on_multiples_of_the_interval() -> None:
    schedule = plait.JobHandlers().schedule("t", every=60)
    assert schedule.next_after(0.0) == 60.0
    assert schedule.next_after(59.999) == 60.0
    assert schedule.next_after(60.0) == 120.0
    assert schedule.due(120.0, 100.0) == ([], 0)
    assert schedule.due(120.0, 125.0) == ([120.0], 0)
    # Five ticks passed while no worker ran: skip keeps the latest.
    assert schedule.due(120.0, 370.0) == ([360.0], 4)
    catch_up = plait.JobHandlers().schedule(
        "t", every=60, missed="catch_up", max_catch_up=3
    )
    assert catch_up.due(120.0, 370.0) == ([240.0, 300.0, 360.0], 2)
    assert catch_up.due(120.0, 130.0) == ([120.0], 0)


def test_cron_ticks_follow_the_timezone_through_daylight_saving() -> None:
    daily = plait.JobHandlers().schedule("t", cron="30 2 * * *", timezone=PARIS)
    # 2026-03-29 02:30 does not exist in Paris: the tick runs at 03:00.
    assert daily.next_after(at("2026-03-28T12:00")) == at("2026-03-29T03:00")
    assert daily.next_after(at("2026-03-29T03:00")) == at("2026-03-30T02:30")
    hourly = plait.JobHandlers().schedule(
        "t", cron="0 * * * *", missed="catch_up", max_catch_up=2
    )
    first = at("2026-01-01T10:00", "UTC")
    ticks, skipped = hourly.due(first, at("2026-01-01T14:30", "UTC"))
    assert ticks == [at("2026-01-01T13:00", "UTC"), at("2026-01-01T14:00", "UTC")]
    assert skipped == 3


def test_schedule_arguments_are_checked() -> None:
    handlers = plait.JobHandlers()
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: handlers.schedule("t"), ValueError, "exactly one of the two"),
        (
            lambda: handlers.schedule("t", every=1, cron="* * * * *"),
            ValueError,
            "exactly one",
        ),
        (
            lambda: handlers.schedule("t", every=0),
            ValueError,
            r"Schedule\(\) every must be",
        ),
        (
            lambda: handlers.schedule("t", cron="61 * * * *"),
            ValueError,
            r"Schedule\(\) cron must be a valid",
        ),
        (
            lambda: handlers.schedule("t", every=1, timezone="Mars/Base"),
            ValueError,
            "timezone",
        ),
        (
            lambda: handlers.schedule("t", every=1, missed="later"),  # type: ignore[arg-type]
            ValueError,
            "missed must be one of",
        ),
        (
            lambda: handlers.schedule("t", every=1, payload=[1]),  # type: ignore[arg-type]
            TypeError,
            "payload must be a mapping",
        ),
    ]
    for make, error, message in cases:
        with pytest.raises(error, match=message):
            make()
    handlers.schedule("t", every=1)
    with pytest.raises(ValueError, match="a schedule named 't' is already declared"):
        handlers.schedule("t", every=2)
    assert [s.name for s in handlers.schedules()] == ["t"]


def test_interval_schedules_do_not_import_the_cron_library() -> None:
    code = (
        "import sys, plait\n"
        "plait.JobHandlers().schedule('t', every=5)\n"
        "assert 'cronsim' not in sys.modules\n"
        "plait.JobHandlers().schedule('t', cron='* * * * *')\n"
        "assert 'cronsim' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_each_tick_is_enqueued_once_by_racing_workers(dsn: str) -> None:
    handlers = plait.JobHandlers()
    skip = handlers.schedule("skip", every=10, payload={"k": 1}, queue="q")
    catch = handlers.schedule("catch", every=10, missed="catch_up", max_catch_up=3)
    engines = [open_engine(dsn), open_engine(dsn)]
    try:
        engines[0].declare_schedules(
            [to_record(s, handlers, 1000.0) for s in (skip, catch)], now=1000.0
        )
        names = ["catch", "skip"]
        # Both workers fire at the same instants: one job per tick.
        for now in (1005.0, 1010.0, 1010.5, 1021.0):
            for engine in engines:
                engine.fire_schedules(names, now=now, plan=plan)
        # A gap of five ticks: "skip" takes the latest, "catch" the last three.
        fired = engines[1].fire_schedules(names, now=1075.0, plan=plan)
        assert {f.schedule: (f.ticks, f.skipped) for f in fired} == {
            "catch": ((1050.0, 1060.0, 1070.0), 2),
            "skip": ((1070.0,), 4),
        }
        rows = engines[0].execute(
            "SELECT idempotency_key, type, queue, payload FROM plait_jobs ORDER BY id"
        )
        keys = [row[0] for row in rows]
        assert len(keys) == len(set(keys))

        def ticks(name: str) -> list[float]:
            return [
                datetime.datetime.fromisoformat(k.rsplit("@", 1)[1]).timestamp()
                for k in keys
                if k.startswith(f"plait:schedule:{name}@")
            ]

        assert ticks("skip") == [1010.0, 1020.0, 1070.0]
        assert ticks("catch") == [1010.0, 1020.0, 1050.0, 1060.0, 1070.0]
        assert {(r[1], r[2], r[3]) for r in rows if "skip@" in r[0]} == {
            ("skip", "q", '{"k": 1}')
        }
        (stored,) = [s for s in engines[0].schedules() if s.name == "skip"]
        assert (stored.next_run, stored.last_tick) == (1080.0, 1070.0)
        # A redeploy with the same timing keeps the next tick; a new one resets it.
        engines[0].declare_schedules([to_record(skip, handlers, 1076.0)], now=1076.0)
        assert [s.next_run for s in engines[1].schedules() if s.name == "skip"] == [
            1080.0
        ]
        faster = plait.JobHandlers().schedule("skip", every=7)
        engines[0].declare_schedules([to_record(faster, handlers, 1076.0)], now=1076.0)
        assert [s.next_run for s in engines[1].schedules() if s.name == "skip"] == [
            1078.0
        ]
    finally:
        for engine in engines:
            engine.close()


async def test_a_worker_runs_its_schedules(dsn: str) -> None:
    handlers = plait.JobHandlers()
    ran: list[str | None] = []
    handlers.schedule("beat", every=0.1)

    @handlers.register("beat")
    async def beat(job: plait.Job) -> None:
        ran.append(job.idempotency_key)

    worker = plait.JobWorker(dsn, handlers, poll_interval=0.02)
    async with anyio.create_task_group() as tg:
        await tg.start(worker.run)
        with anyio.fail_after(20):
            while len(ran) < 3:
                await anyio.sleep(0.02)
        worker.stop()
    assert len(set(ran)) == len(ran)
    assert all(key and key.startswith("plait:schedule:beat@") for key in ran)


def test_one_job_per_tick_while_worker_processes_are_killed_at_random(
    dsn: str, tmp_path: Path
) -> None:
    seconds = float(os.environ.get("PLAIT_SCHEDULE_CHAOS_SECONDS", "6"))
    seed = int(
        os.environ.get("PLAIT_SCHEDULE_CHAOS_SEED", str(random.randrange(10**6)))
    )
    rng = random.Random(seed)
    os.environ["PLAIT_TEST_TICK"] = "0.25"
    workers: list[Worker] = []

    def start() -> None:
        workers.append(
            start_worker(
                dsn,
                "--poll-interval",
                "0.05",
                "--lease",
                "2",
                app=SCHEDULED_APP,
                backend=rng.choice(["asyncio", "trio"]),
            )
        )

    def enqueued() -> list[str]:
        engine = open_engine(dsn)
        try:
            return [
                row[0]
                for row in engine.execute(
                    "SELECT idempotency_key FROM plait_jobs WHERE type = 'tick' "
                    "ORDER BY id"
                )
            ]
        finally:
            engine.close()

    for _ in range(3):
        start()
    # Kill for at least `seconds`, then on until the schedule has enqueued
    # WANTED ticks: counted in the schedule's own ticks, not in wall time,
    # so how fast processes start on a loaded machine changes how long the
    # run takes, not what it shows.
    started = time.monotonic()
    deadline = started + seconds + 120
    kills = count = at_last_kill = 0
    try:
        while time.monotonic() - started < seconds or count < WANTED or not kills:
            assert time.monotonic() < deadline, (
                f"seed {seed}: {count} ticks, {kills} kills in {seconds + 120:g} s"
            )
            time.sleep(rng.uniform(0.1, 0.8))
            count = len(enqueued())
            alive = [w for w in workers if w.poll() is None]
            # At a random instant, but only once the schedule has moved since
            # the last kill: where processes start slowly, every worker could
            # otherwise die before it ever fires.
            if alive and count > at_last_kill and rng.random() < 0.7:
                victim = rng.choice(alive)
                victim.send_signal(signal.SIGKILL)
                victim.finish(30)
                kills += 1
                at_last_kill = count
            if len([w for w in workers if w.poll() is None]) < 3:
                start()
    finally:
        outcomes = []
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
            outcomes.append(w.finish(60))
    keys = enqueued()
    ticks = sorted(
        datetime.datetime.fromisoformat(k.rsplit("@", 1)[1]).timestamp() for k in keys
    )
    context = f"seed {seed}, {kills} kills, {len(ticks)} ticks"
    for code, err in outcomes:
        # A worker stopped while still starting up (its signal handlers not
        # yet installed) dies of the SIGTERM itself.
        assert code in (0, -signal.SIGKILL, -signal.SIGTERM), (context, err)
    assert kills > 0, context
    assert len(ticks) >= WANTED, context
    assert len(set(keys)) == len(keys), context
    # No tick is missing between the first and the last one enqueued.
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert all(abs(gap - 0.25) < 1e-6 for gap in gaps), (context, gaps)
