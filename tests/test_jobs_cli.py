"""``plait jobs``, run as a user runs it: ``python -m plait jobs ...`` in a
subprocess, on SQLite and PostgreSQL (output, exit codes, refusals)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

import plait
from durable_scripts.seed import Seeded
from durable_scripts.support import ENGINES, ROOT, make_dsn
from plait._jobs.durable._jobs_args import parse_duration, parse_when


def plait_cmd(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "PLAIT_DSN"}
    base["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.run(
        [sys.executable, "-m", "plait", *args],
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_list_prints_a_table_and_pages_on(seeded: Seeded) -> None:
    dead = plait_cmd("jobs", seeded.dsn, "list", "--state", "dead")
    assert dead.returncode == 0, dead.stderr
    lines = dead.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "STATE",
        "QUEUE",
        "TYPE",
        "ATTEMPTS",
        "CREATED",
        "FINISHED",
        "ERROR",
    ]
    assert [line.split()[0] for line in lines[1:]] == seeded.ids["dead"][::-1]
    assert all("ValueError: boom" in line for line in lines[1:])
    assert all(" 2/2 " in line for line in lines[1:])

    first = plait_cmd("jobs", seeded.dsn, "list", "--state", "done", "--limit", "4")
    *rows, more = first.stdout.splitlines()
    assert len(rows) == 5
    match = re.fullmatch(
        r"more: plait jobs list --state done --limit 4 --cursor (\S+)", more
    )
    assert match, more
    second = plait_cmd(
        "jobs", seeded.dsn, "list", "--state", "done", "--limit", "4",
        "--cursor", match[1],
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    shown = [r.split()[0] for r in rows[1:] + second.stdout.splitlines()[1:5]]
    assert shown == seeded.ids["done"][::-1][:8]


def test_list_as_json_with_filters_and_the_dsn_from_the_environment(
    seeded: Seeded,
) -> None:
    out = plait_cmd(
        "jobs", "list", "--queue", "mail", "--state", "queued", "--json",
        env={"PLAIT_DSN": seeded.dsn},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [job["id"] for job in data["jobs"]] == seeded.ids["mail"]
    assert data["next_cursor"] is None
    assert data["jobs"][0]["idempotency_key"] == "mail-0"
    keys = plait_cmd("jobs", seeded.dsn, "list", "--key-prefix", "other-", "--json")
    assert [j["idempotency_key"] for j in json.loads(keys.stdout)["jobs"]] == [
        f"other-{n}" for n in range(4)
    ]


def test_show_prints_the_payload_every_failed_attempt_and_the_result(
    seeded: Seeded,
) -> None:
    dead_id = seeded.ids["dead"][1]
    dead = plait_cmd("jobs", seeded.dsn, "show", dead_id)
    assert dead.returncode == 0, dead.stderr
    text = dead.stdout
    assert text.startswith(f"job {dead_id}: dead\n")
    assert "  type:      boom" in text
    assert '"n": 1' in text
    assert "failed attempts: 2" in text
    assert re.search(r"attempt 1: failed at .* on \S+", text), text
    assert text.count("ValueError: boom 1") >= 4, "error and traceback, twice"
    assert "Traceback (most recent call last)" in text

    done_id = seeded.ids["done"][3]
    done = json.loads(plait_cmd("jobs", seeded.dsn, "show", done_id, "--json").stdout)
    assert done["job"]["state"] == "done"
    assert done["job"]["result"] == {"n": 3}
    assert done["attempts"] == []

    missing = plait_cmd("jobs", seeded.dsn, "show", "999999")
    assert missing.returncode == 3
    assert "no job with id 999999" in missing.stderr
    bad = plait_cmd("jobs", seeded.dsn, "show", "abc")
    assert bad.returncode == 2
    assert "a job id is a number" in bad.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("show", "1"),
        ("retry", "1"),
        ("cancel", "1"),
        ("delete", "1"),
        ("purge", "--state", "done", "--older-than", "1d"),
        ("schedules",),
    ],
)
def test_commands_refuse_a_missing_sqlite_file(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    path = tmp_path / "typo.db"
    result = plait_cmd("jobs", str(path), *args)
    assert result.returncode == 1
    assert f"no SQLite job database at '{path}'" in result.stderr
    assert not path.exists(), "a read must not create the database"


def test_enqueue_creates_the_database_and_show_reads_the_job(tmp_path: Path) -> None:
    dsn = f"sqlite:///{tmp_path / 'new.db'}"
    due = "2030-01-31T09:00:00+00:00"
    made = plait_cmd(
        "jobs", dsn, "enqueue", "email.send", '{"to": "ada@example.org"}',
        "--queue", "mail", "--priority", "5", "--not-before", due, "--key", "k-1",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    job_id = made.stdout.strip()
    again = plait_cmd("jobs", dsn, "enqueue", "email.send", "{}", "--key", "k-1")
    assert again.stdout.strip() == job_id, "the key makes a second enqueue a no-op"
    shown = json.loads(plait_cmd("jobs", dsn, "show", job_id, "--json").stdout)
    job = shown["job"]
    assert (job["type"], job["queue"], job["priority"]) == ("email.send", "mail", 5)
    assert job["payload"] == {"to": "ada@example.org"}
    assert job["idempotency_key"] == "k-1"
    assert job["not_before"] == 1896080400.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("list",), "give the job database before the subcommand"),
        (("DSN",), "a subcommand is required"),
        (("DSN", "retry"), "give a job ID or --dead"),
        (("DSN", "retry", "1", "--dead"), "give a job ID or --dead"),
        (("DSN", "retry", "1", "--type", "t"), "--type and --queue go with --dead"),
        (("DSN", "purge", "--state", "done", "--older-than", "7x"), "duration"),
        (("DSN", "purge", "--state", "queued", "--older-than", "1d"), "invalid"),
        (("DSN", "enqueue", "t", "[1]"), "must be a JSON object"),
        (("DSN", "enqueue", "t", "{bad"), "is not JSON"),
        (("DSN", "enqueue", "t", "{}", "--not-before", "soon"), "ISO 8601"),
        (("DSN", "list", "--limit", "0"), "--limit must be 1 to 1000"),
        (("DSN", "list", "--cursor", "zzz"), "same filters"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(
    tmp_path_factory: pytest.TempPathFactory, args: tuple[str, ...], message: str
) -> None:
    # Argument checks do not depend on the engine: one empty SQLite file.
    path = tmp_path_factory.getbasetemp() / "usage.db"
    path.touch()
    words = [str(path) if a == "DSN" else a for a in args]
    result = plait_cmd("jobs", *words)
    assert result.returncode == 2, result
    assert message in result.stderr


def test_retry_cancel_and_purge_change_the_queue(fresh: Seeded) -> None:
    ids = fresh.ids
    dsn = fresh.dsn
    retried = plait_cmd("jobs", dsn, "retry", ids["dead"][0])
    assert (retried.returncode, retried.stdout) == (
        0,
        f"job {ids['dead'][0]} queued again\n",
    )
    twice = plait_cmd("jobs", dsn, "retry", ids["dead"][0])
    assert twice.returncode == 4
    assert "is queued: only dead or cancelled jobs can be retried" in twice.stderr
    assert plait_cmd("jobs", dsn, "retry", "999999").returncode == 3
    bulk = plait_cmd("jobs", dsn, "retry", "--dead", "--type", "boom")
    assert bulk.stdout == "queued again 2 dead job(s) of type 'boom'\n"

    cancel = plait_cmd("jobs", dsn, "cancel", ids["mail"][0])
    assert cancel.stdout == f"job {ids['mail'][0]} cancelled: it will not run\n"
    running = plait_cmd("jobs", dsn, "cancel", ids["running"][0])
    assert running.returncode == 0
    assert "cancellation requested" in running.stdout
    finished = plait_cmd("jobs", dsn, "cancel", ids["done"][0])
    assert finished.returncode == 4
    assert "already finished (done)" in finished.stderr
    assert plait_cmd("jobs", dsn, "cancel", "999999").returncode == 3

    keep = plait_cmd("jobs", dsn, "purge", "--state", "done", "--older-than", "7d")
    assert keep.stdout == "purged 0 done job(s) finished over 7d ago\n"
    purge = plait_cmd("jobs", dsn, "purge", "--state", "done", "--older-than", "0")
    assert purge.stdout == "purged 10 done job(s) finished over 0 s ago\n"
    left = json.loads(plait_cmd("jobs", dsn, "list", "--json").stdout)["jobs"]
    assert {job["state"] for job in left} == {"queued", "running", "cancelled"}


def test_delete_removes_a_finished_job_only(fresh: Seeded) -> None:
    dsn, ids = fresh.dsn, fresh.ids
    dead = ids["dead"][0]
    deleted = plait_cmd("jobs", dsn, "delete", dead)
    assert (deleted.returncode, deleted.stdout) == (0, f"job {dead} deleted\n")
    assert plait_cmd("jobs", dsn, "show", dead).returncode == 3
    assert plait_cmd("jobs", dsn, "delete", dead).returncode == 3
    waiting = plait_cmd("jobs", dsn, "delete", ids["mail"][0])
    assert waiting.returncode == 4
    assert f"job {ids['mail'][0]} is queued: only finished jobs" in waiting.stderr
    assert plait_cmd("jobs", dsn, "show", ids["mail"][0]).returncode == 0


def test_schedules_lists_each_schedule_with_its_next_run(
    tmp_path: Path, engine: str
) -> None:
    for dsn in make_dsn(engine, tmp_path):
        empty = plait_cmd("jobs", dsn, "enqueue", "noop", "{}")
        assert empty.returncode == 0, empty.stderr
        none = plait_cmd("jobs", dsn, "schedules")
        assert none.stdout.splitlines()[1].startswith("(no schedules")
        handlers = plait.JobHandlers()
        handlers.schedule("report.hourly", every=3600, queue="reports")
        handlers.schedule("noop", every=86400, missed="catch_up", max_catch_up=3)
        handlers.register("report.hourly", queue="reports")(noop)
        handlers.register("noop")(noop)
        worker = plait.JobWorker(dsn, handlers, until_empty=True, poll_interval=0.05)
        stored_from = time.time()
        anyio.run(worker.run)
        stored_by = time.time()
        table = plait_cmd("jobs", dsn, "schedules")
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split() == [
            "NAME", "TYPE", "QUEUE", "TIMING", "MISSED", "NEXT", "RUN", "LAST", "JOB"
        ]  # fmt: skip
        rows = {line.split()[0]: line.split() for line in lines[1:]}
        assert set(rows) == {"noop", "report.hourly"}
        hourly_row = ["report.hourly", "reports", "every", "3600", "s", "skip"]
        assert rows["report.hourly"][1:7] == hourly_row
        daily_row = ["noop", "default", "every", "86400", "s", "catch_up"]
        assert rows["noop"][1:7] == daily_row
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", rows["noop"][7])
        found = json.loads(plait_cmd("jobs", dsn, "schedules", "--json").stdout)
        by_name = {s["name"]: s for s in found}
        hourly = by_name["report.hourly"]
        assert (hourly["type"], hourly["every"], hourly["cron"]) == (
            "report.hourly",
            3600.0,
            None,
        )
        # Ticks fall on multiples of the interval: the start of the hour after
        # the one in which the worker stored the schedule (an hour may have
        # begun since, while the commands ran).
        assert hourly["next_run"] % 3600 == 0
        assert stored_from < hourly["next_run"] <= stored_by + 3600


async def noop(job: plait.Job) -> None:
    return None


def test_durations_and_times() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("12h") == 12 * 3600
    assert parse_duration("30m") == 1800
    assert parse_duration("90s") == 90
    assert parse_duration("2w") == 14 * 86400
    assert parse_duration("3600") == 3600
    assert parse_duration("1.5h") == 5400
    now = time.time()
    assert parse_when("+10m", now) == now + 600
    assert parse_when("1896080400", now) == 1896080400.0
    assert parse_when("2030-01-31T10:00:00+01:00", now) == 1896080400.0
    for bad in ("", "7x", "-1", "inf", "nan", "d"):
        with pytest.raises(ValueError, match="a duration must be"):
            parse_duration(bad)


def test_help_documents_the_grammar_and_the_exit_codes() -> None:
    result = plait_cmd("jobs", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "usage: plait jobs [DSN]" in text
    for word in ("list", "show", "retry", "cancel", "delete", "purge", "enqueue"):
        assert word in text
    assert "Exit status: 0 done, 1 could not run" in text
