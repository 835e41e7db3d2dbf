"""``plait worker``: --status, --drain with progress, and its errors."""

from __future__ import annotations

import doctest
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import plait
from durable_scripts.support import APP, ENGINES, make_dsn, postgres_dsn, run_cli
from plait._jobs.durable import _cli as durable_cli
from plait._jobs.durable._calls import connect, open_engine
from plait._jobs.durable._cli import load_handlers, main
from plait._jobs.durable._engine import DatabaseUnavailableError, Engine
from plait._jobs.durable._rows import QueueStats, WorkerRecord


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


def fill(dsn: str) -> None:
    async def go() -> None:
        async with plait.DurableBackend(dsn) as backend:
            await backend.submit_many(
                [plait.Job("flaky", {"fail": n % 4}) for n in range(40)]
                + [plait.Job("noop") for _ in range(10)]
                + [plait.Job("noop", not_before=time.time() + 3600)]
            )

    anyio.run(go)


def test_status_prints_counts_per_state_and_type(dsn: str) -> None:
    fill(dsn)
    text = run_cli("worker", dsn, "--status")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == [
        "type",
        "queued",
        "running",
        "retrying",
        "done",
        "dead",
        "cancelled",
    ]
    assert lines[1].split() == ["flaky", "40", "0", "0", "0", "0", "0"]
    assert lines[2].split() == ["noop", "11", "0", "0", "0", "0", "0"]
    assert lines[3].split() == ["total", "51", "0", "0", "0", "0", "0"]
    assert lines[4].startswith("oldest queued: ")
    assert lines[4].endswith(" s")
    as_json = run_cli("worker", dsn, "--status", "--json")
    data = json.loads(as_json.stdout)
    assert data["counts"]["queued"] == 51
    assert data["by_type"] == {"flaky": {"queued": 40}, "noop": {"queued": 11}}


def test_drain_runs_until_empty_and_shows_progress(dsn: str) -> None:
    fill(dsn)
    # The job scheduled an hour ahead is future work: the drain leaves it.
    done = run_cli(
        "worker",
        dsn,
        "--app",
        APP,
        "--drain",
        "--progress",
        "plain",
        "--poll-interval",
        "0.05",
        "--concurrency",
        "4",
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"drain: \d+/51 finished", done.stderr), done.stderr
    # The last frame is drawn after the worker stopped and accounts for every
    # job: the 50 it finished, by outcome, and the one left for later.
    last = done.stderr.splitlines()[-2]
    assert last == (
        "drain: 50/50 finished (done 40, dead 10, cancelled 0); "
        "left: queued 1, retrying 0, running 0"
    ), done.stderr
    status = json.loads(run_cli("worker", dsn, "--status", "--json").stdout)
    assert status["counts"]["done"] == 40
    assert status["counts"]["dead"] == 10
    assert status["counts"]["queued"] == 1


async def test_drain_progress_lets_a_failed_first_read_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database answers again by the time the progress display stops:
    # there is no first snapshot to count from, and the error that ended it
    # is what leaves (it was an UnboundLocalError).
    dsn = str(tmp_path / "jobs.db")
    reads: list[float] = []

    async def connect_then_fail_once(dsn: str) -> Engine:
        engine = await connect(dsn)
        stats = engine.stats

        def first_read_fails(*, now: float) -> QueueStats:
            reads.append(now)
            if len(reads) == 1:
                raise DatabaseUnavailableError("the database went away")
            return stats(now=now)

        monkeypatch.setattr(engine, "stats", first_read_fails)
        return engine

    monkeypatch.setattr(durable_cli, "connect", connect_then_fail_once)
    with pytest.raises(DatabaseUnavailableError, match="went away"):
        await durable_cli._show_progress(dsn, "plain")
    assert len(reads) == 1


def test_status_refuses_a_sqlite_file_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    for dsn in (str(path), f"sqlite://{path}"):
        result = run_cli("worker", dsn, "--status")
        assert result.returncode == 1
        assert result.stderr == (
            f"plait worker: no SQLite job database at '{path}': check the path "
            "(only a worker, a submit or `plait jobs enqueue` creates one)\n"
        )
        assert not path.exists()


def test_status_lists_the_live_workers(dsn: str) -> None:
    now = time.time()
    engine = open_engine(dsn)
    try:
        for name, seen, expires in (
            ("alive-1", now - 2, now + 28),
            ("gone-1", now - 3600, now - 3570),
        ):
            engine.register_worker(
                WorkerRecord(
                    name=name,
                    host="box",
                    pid=4242,
                    queues={"default": 10, "mail": 2},
                    running=3,
                    state="running",
                    version="test",
                    started_at=now - 60,
                    last_seen=seen,
                    expires_at=expires,
                )
            )
    finally:
        engine.close()
    text = run_cli("worker", dsn, "--status")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    at = lines.index("workers alive: 1")
    assert lines[at + 1].split() == [
        "NAME",
        "HOST",
        "PID",
        "QUEUES",
        "RUNNING",
        "STATE",
        "LAST",
        "SEEN",
    ]
    cells = lines[at + 2].split()
    assert cells[:6] == ["alive-1", "box", "4242", "default=10,mail=2", "3", "running"]
    assert re.fullmatch(r"\d+\.\d s ago", " ".join(cells[6:]))
    assert len(lines) == at + 3, "the expired worker is not listed"
    data = json.loads(run_cli("worker", dsn, "--status", "--json").stdout)
    assert [w["name"] for w in data["workers"]] == ["alive-1"]
    assert data["workers"][0]["queues"] == {"default": 10, "mail": 2}


def test_unreachable_database_is_a_clear_error_without_the_password() -> None:
    postgres_dsn()
    result = run_cli("worker", "postgresql://bob:hunter2@127.0.0.1:1/db", "--status")
    assert result.returncode == 1
    assert "postgresql://bob:***@127.0.0.1:1/db" in result.stderr
    assert "hunter2" not in result.stderr


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = str(tmp_path / "jobs.db")
    assert main(["worker", dsn, "--app", "nocolon"]) == 2
    assert "--app must be MODULE:ATTR" in capsys.readouterr().err
    assert main([dsn, "--app", "json:__name__"]) == 2
    assert "must name a plait.JobHandlers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main([dsn])
    assert info.value.code == 2
    assert "--app MODULE:ATTR is required" in capsys.readouterr().err
    assert load_handlers(APP).types() == ["flaky", "noop", "once-blocks", "sleep"]


@pytest.mark.parametrize("name", ["DurableBackend", "JobWorker"])
def test_docstring_examples_run(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(getattr(plait, name), name, globs={}):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    assert results.failed == 0


def test_queue_options_name_the_queues_served(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from plait._jobs.durable._cli import parse_queues

    assert parse_queues(None, 10) is None
    assert parse_queues(["mail=2", "default"], 10) == {"mail": 2, "default": 10}
    dsn = str(tmp_path / "jobs.db")
    assert main([dsn, "--app", APP, "--queue", "mail=x"]) == 2
    assert "--queue must be NAME or NAME=N" in capsys.readouterr().err
    assert main([dsn, "--app", APP, "--queue", "mail=0"]) == 2
    assert (
        "JobWorker() queues['mail'] must be a positive int" in capsys.readouterr().err
    )
