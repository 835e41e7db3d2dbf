"""The admin API on DurableBackend, on SQLite and PostgreSQL.

One database per engine for the module's read-only tests (jobs in every
state, made through the public API and a real worker); mutating tests get a
fresh one each. Pages are checked against an oracle that reads every row and
sorts them as the docs say, for random filters, page sizes and window sizes.
"""

from __future__ import annotations

import re
import threading
import time
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from unittest import mock

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from durable_scripts.seed import Seeded
from durable_scripts.support import ENGINES, make_dsn
from plait._jobs.durable import _admin, _list_filters, _listing, _overview
from plait._jobs.durable._calls import open_engine
from plait._jobs.durable._rows import STATES, JobState


def all_rows(dsn: str) -> list[dict[str, Any]]:
    engine = open_engine(dsn)
    try:
        names = [
            "id",
            "type",
            "queue",
            "state",
            "priority",
            "not_before",
            "finished_at",
            "started_at",
            "idempotency_key",
        ]
        rows = engine.read(f"SELECT {', '.join(names)} FROM plait_jobs")
    finally:
        engine.close()
    return [dict(zip(names, row, strict=True)) for row in rows]


def expected(
    rows: list[dict[str, Any]],
    state: str | None,
    type_: str | None,
    queue: str | None,
    prefix: str | None,
) -> list[str]:
    """The ids list_jobs should return, in the documented order."""
    found = [
        r
        for r in rows
        if (state is None or r["state"] == state)
        and (type_ is None or r["type"] == type_)
        and (queue is None or r["queue"] == queue)
        and (prefix is None or (r["idempotency_key"] or "").startswith(prefix))
    ]
    if prefix is not None:
        found.sort(key=lambda r: r["idempotency_key"])
    elif state is None:
        found.sort(key=lambda r: -r["id"])
    elif state in ("queued", "retrying"):
        found.sort(key=lambda r: (r["not_before"], r["id"]))
    elif state == "running":
        found.sort(key=lambda r: (r["started_at"], r["id"]))
    else:
        found.sort(key=lambda r: (-r["finished_at"], -r["id"]))
    return [str(r["id"]) for r in found]


async def every_page(
    backend: plait.DurableBackend, limit: int, **filters: Any
) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = await backend.list_jobs(limit=limit, cursor=cursor, **filters)
        assert len(page.jobs) <= limit
        ids += [job.id for job in page.jobs]
        if page.next_cursor is None:
            return ids
        assert page.next_cursor != cursor, "a cursor that does not move"
        cursor = page.next_cursor
    raise AssertionError("more than 100 pages")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    state=st.sampled_from([None, *STATES]),
    type_=st.sampled_from([None, "ok", "boom", "nope"]),
    queue=st.sampled_from([None, "default", "mail", "slow", "nope"]),
    prefix=st.sampled_from([None, None, "mail-", "other-", "m", "zz"]),
    limit=st.integers(1, 5),
    window=st.integers(1, 6),
)
def test_pages_list_each_match_once_in_the_documented_order(
    seeded: Seeded,
    state: str | None,
    type_: str | None,
    queue: str | None,
    prefix: str | None,
    limit: int,
    window: int,
) -> None:
    filters = {"state": state, "type": type_, "queue": queue, "key_prefix": prefix}
    want = expected(all_rows(seeded.dsn), state, type_, queue, prefix)

    async def go() -> list[str]:
        async with plait.DurableBackend(seeded.dsn) as backend:
            return await every_page(backend, limit, **filters)

    # A window smaller than the table makes filtered pages sparse: the
    # cursor must still walk past every row, none twice.
    with mock.patch.object(_listing, "WINDOW", window):
        assert anyio.run(go) == want


async def test_list_jobs_summaries_and_orders(seeded: Seeded) -> None:
    ids = seeded.ids
    async with plait.DurableBackend(seeded.dsn) as backend:
        dead = await backend.list_jobs(state="dead")
        assert [j.id for j in dead.jobs] == ids["dead"][::-1]
        assert dead.next_cursor is None
        first = dead.jobs[0]
        assert (first.type, first.queue, first.state) == ("boom", "default", "dead")
        assert first.attempts == 2
        assert first.error_line == "ValueError: boom 2"
        assert first.finished_at is not None
        mail = await backend.list_jobs(state="queued", queue="mail")
        # Due first: the three due now in id order, then the three due later.
        assert [j.id for j in mail.jobs] == ids["mail"]
        keys = await backend.list_jobs(key_prefix="other-")
        assert [j.idempotency_key for j in keys.jobs] == [
            f"other-{n}" for n in range(4)
        ]
        running = await backend.list_jobs(state="running")
        assert [j.worker for j in running.jobs] == ["test-worker"] * 2


@pytest.mark.parametrize("engine_name", ENGINES)
async def test_waiting_jobs_due_together_list_in_id_order_across_groups(
    engine_name: str, tmp_path: Path
) -> None:
    due = time.time() - 60
    for dsn in make_dsn(engine_name, tmp_path):
        async with plait.DurableBackend(dsn) as backend:
            ids = await backend.submit_many(
                [
                    plait.Job("t", queue=f"q{n % 3}", priority=n % 2, not_before=due)
                    for n in range(14)
                ]
            )
            listed = await every_page(backend, 4, state="queued")
        # Ids 9 and 10 are in different groups: they sort as numbers.
        assert listed == ids


async def test_list_jobs_rejects_bad_arguments(seeded: Seeded) -> None:
    async with plait.DurableBackend(seeded.dsn) as backend:
        with pytest.raises(ValueError, match="list_jobs\\(\\) state must be one of"):
            await backend.list_jobs(state="lost")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="list_jobs\\(\\) limit must be"):
            await backend.list_jobs(limit=0)
        with pytest.raises(ValueError, match="at most 1000, got 1001"):
            await backend.list_jobs(limit=1001)
        with pytest.raises(TypeError, match="list_jobs\\(\\) type must be a str"):
            await backend.list_jobs(type=3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="key_prefix must not be empty"):
            await backend.list_jobs(key_prefix="")
        page = await backend.list_jobs(state="done", limit=2)
        assert page.next_cursor is not None
        with pytest.raises(ValueError, match="same filters"):
            await backend.list_jobs(state="dead", cursor=page.next_cursor)
        with pytest.raises(ValueError, match="same filters"):
            await backend.list_jobs(cursor="not a cursor")


async def test_inspect_returns_the_record_and_every_failed_attempt(
    seeded: Seeded,
) -> None:
    async with plait.DurableBackend(seeded.dsn) as backend:
        dead = await backend.inspect(seeded.ids["dead"][0])
        assert dead is not None
        assert dead.record.state == "dead"
        assert dead.record.payload == {"n": 0}
        assert [a.attempt for a in dead.attempts] == [1, 2]
        for attempt in dead.attempts:
            assert attempt.outcome == "failed"
            assert attempt.error_type == "ValueError"
            assert attempt.message == "boom 0"
            assert attempt.traceback is not None
            assert "ValueError: boom 0" in attempt.traceback
            assert attempt.worker is not None
        done = await backend.inspect(seeded.ids["done"][4])
        assert done is not None
        assert (done.record.state, done.record.result) == ("done", {"n": 4})
        assert done.attempts == ()
        assert await backend.inspect("999999") is None
        with pytest.raises(ValueError, match="inspect\\(\\) job_id must be"):
            await backend.inspect("nine")


EXPECTED_COUNTS = {
    "queued": 8,
    "running": 2,
    "retrying": 0,
    "done": 10,
    "dead": 3,
    "cancelled": 2,
}


async def test_overview_counts_states_and_queues(seeded: Seeded) -> None:
    async with plait.DurableBackend(seeded.dsn) as backend:
        view = await backend.overview(max_age=0)
    assert dict(view.counts) == EXPECTED_COUNTS
    assert view.by_queue == {
        "default": {"cancelled": 2, "dead": 3, "done": 10, "queued": 2},
        "mail": {"queued": 6},
        "slow": {"running": 2},
    }
    assert view.estimated == frozenset()
    assert view.exact_limit == _overview.COUNT_BOUND
    assert len(view.throughput) == 60
    minutes = [b.minute for b in view.throughput]
    assert minutes == sorted(minutes)
    assert minutes[-1] <= view.taken_at < minutes[-1] + 60
    # The worker's tallies and the two cancellations, over the last hour.
    totals = [
        sum(getattr(b, field) for b in view.throughput)
        for field in ("done", "failed", "dead", "cancelled")
    ]
    assert totals == [10, 6, 3, 2], "6: both attempts of each dead job failed"
    # Five due jobs have waited since the seed; the three due in an hour not.
    assert view.oldest_queued_age is not None
    assert 0 <= view.oldest_queued_age < 600


async def test_overview_estimates_past_the_bound(seeded: Seeded) -> None:
    # On a small table the sample windows cover every id: the estimate is
    # then exact, so it can be compared with the counts.
    with mock.patch.object(_overview, "COUNT_BOUND", 2):
        async with plait.DurableBackend(seeded.dsn) as backend:
            view = await backend.overview(max_age=0)
    assert view.estimated == {"queued", "retrying", "done", "dead"}
    assert dict(view.counts) == EXPECTED_COUNTS
    assert view.by_queue["mail"] == {"queued": 6}


async def test_overview_is_read_again_only_after_max_age(fresh: Seeded) -> None:
    # The cache ages on a clock of the test's own: a slow round trip on a
    # loaded machine cannot age it past the default two seconds.
    now = time.time()
    clock = types.SimpleNamespace(time=lambda: now)
    with mock.patch.object(_admin, "time", clock):
        async with plait.DurableBackend(fresh.dsn) as backend:
            first = await backend.overview()
            await backend.submit(plait.Job("ok", {"n": 1}))
            now += 1.9
            assert await backend.overview() is first
            now += 0.1
            again = await backend.overview()
            assert again.counts["queued"] == first.counts["queued"] + 1
            assert again.taken_at == first.taken_at + 2.0
            assert await backend.overview(max_age=0) is not again
            with pytest.raises(ValueError, match="overview\\(\\) max_age must be"):
                await backend.overview(max_age=-1)


async def test_callers_missing_the_overview_cache_together_share_one_read(
    fresh: Seeded,
) -> None:
    """Five dashboards polling at once: the first reads, the others wait for
    its answer instead of reading the same figures again."""
    async with plait.DurableBackend(fresh.dsn, work=False) as backend:
        engine = backend._require_engine()
        reads = 0
        release = threading.Event()
        original = engine.read_with

        def read_with(fn: Callable[[Any], Any]) -> Any:
            nonlocal reads
            reads += 1
            release.wait(30)  # in the engine's thread: the others arrive meanwhile
            return original(fn)

        answers: list[plait.QueueOverview] = []

        async def look() -> None:
            answers.append(await backend.overview(max_age=60))

        with mock.patch.object(engine, "read_with", read_with):
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(look)
                await anyio.wait_all_tasks_blocked()
                release.set()
        assert reads == 1
        assert len(answers) == 5
        assert all(a is answers[0] for a in answers)
        assert answers[0].counts["dead"] == len(fresh.ids["dead"])


async def test_retry_queues_dead_jobs_again_with_a_fresh_budget(fresh: Seeded) -> None:
    dead = fresh.ids["dead"]
    async with plait.DurableBackend(fresh.dsn) as backend:
        assert await backend.retry(dead[0]) is True
        record = await backend.get(dead[0])
        assert record is not None
        assert (record.state, record.attempts, record.finished_at) == (
            "queued",
            0,
            None,
        )
        detail = await backend.inspect(dead[0])
        assert detail is not None
        assert len(detail.attempts) == 2, "the history is kept"
        assert await backend.retry(dead[0]) is False, "queued: not retried twice"
        assert await backend.retry(fresh.ids["done"][0]) is False
        with pytest.raises(KeyError, match="no job with id '999999'"):
            await backend.retry("999999")
        assert await backend.retry_dead(type="ok") == 0
        assert await backend.retry_dead(queue="mail") == 0
        assert await backend.retry_dead(type="boom") == 2
        assert (await backend.overview(max_age=0)).counts["dead"] == 0


async def test_cancel_a_waiting_job_at_once_and_flag_a_running_one(
    fresh: Seeded,
) -> None:
    async with plait.DurableBackend(fresh.dsn) as backend:
        assert await backend.cancel(fresh.ids["mail"][0]) == "cancelled"
        assert await backend.cancel(fresh.ids["running"][0]) == "running"
        flagged = await backend.get(fresh.ids["running"][0])
        assert flagged is not None
        assert flagged.cancel_requested_at is not None
        assert await backend.cancel(fresh.ids["done"][0]) == "done"
        assert await backend.cancel(fresh.ids["dead"][0]) == "dead"
        with pytest.raises(KeyError):
            await backend.cancel("999999")


async def test_delete_and_purge_remove_finished_jobs_only(fresh: Seeded) -> None:
    async with plait.DurableBackend(fresh.dsn) as backend:
        assert await backend.delete(fresh.ids["dead"][0]) is True
        assert await backend.inspect(fresh.ids["dead"][0]) is None
        assert await backend.delete(fresh.ids["mail"][0]) is False
        with pytest.raises(KeyError):
            await backend.delete(fresh.ids["dead"][0])
        assert await backend.purge(state="dead", older_than=3600) == 0
        assert await backend.purge(state="dead", older_than=0) == 2
        view = await backend.overview(max_age=0)
        assert (view.counts["dead"], view.counts["cancelled"]) == (0, 2)
        assert await backend.purge(state="done", older_than=0) == 10
        with pytest.raises(ValueError, match="purge\\(\\) state must be"):
            await backend.purge(state="queued", older_than=0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="purge\\(\\) older_than must be"):
            await backend.purge(state="done", older_than=-1)


class Recording:
    """A Tx that remembers every statement run through it."""

    def __init__(self, tx: Any) -> None:
        self.tx = tx
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def rows(self, sql: str, params: Any = ()) -> list[Any]:
        self.statements.append((sql, tuple(params)))
        return list(self.tx.rows(sql, params))

    def count(self, sql: str, params: Any = ()) -> int:
        return int(self.tx.count(sql, params))

    def many(self, sql: str, params: Iterable[Any]) -> None:
        raise AssertionError(f"an admin read wrote: {sql}")


def admin_statements(dsn: str) -> list[tuple[str, tuple[Any, ...]]]:
    """Every read the overview and each list order issue, on *dsn*."""
    engine = open_engine(dsn)
    lister = _listing.Lister(engine.dialect)
    try:

        def run(tx: Any) -> list[tuple[str, tuple[Any, ...]]]:
            recording = Recording(tx)
            _overview.read_overview(recording, lister, time.time())
            states: list[JobState | None] = [None, "queued", "running", "dead"]
            for state in states:
                for extra in ({}, {"type": "t1"}):
                    filters = _list_filters.Filters(state=state, **extra)
                    _, key = lister.page(recording, filters, 5, None)
                    if key is not None:
                        lister.page(recording, filters, 5, key)
            lister.page(recording, _list_filters.Filters(key_prefix="k-1"), 5, None)
            return recording.statements

        statements: list[tuple[str, tuple[Any, ...]]] = engine.read_with(run)
        return statements
    finally:
        engine.close()


def big_table(dsn: str) -> None:
    """20,000 jobs, mostly done, so a planner prefers indexes where they help."""
    engine = open_engine(dsn)
    try:
        now = time.time()
        series = (
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
            "WHERE n < 20000) "
        )
        # n - n / k * k is n modulo k (integers) in both dialects; a % would
        # be taken for a placeholder by psycopg.
        select = (
            "SELECT 't' || (g.n - g.n / 5 * 5), '{}', 0, "
            "CASE WHEN g.n - g.n / 50 * 50 = 0 THEN 'dead' "
            "WHEN g.n - g.n / 51 * 51 = 0 THEN 'queued' "
            "WHEN g.n - g.n / 97 * 97 = 0 THEN 'running' ELSE 'done' END, "
            "?, ?, ?, ?, 'q' || (g.n - g.n / 3 * 3), "
            "CASE WHEN g.n - g.n / 7 * 7 = 0 THEN 'k-' || g.n END FROM g"
        )
        columns = (
            "type, payload, priority, state, not_before, created_at, started_at, "
            "finished_at, queue, idempotency_key"
        )
        if engine.dialect == "postgres":
            sql = f"INSERT INTO plait_jobs ({columns}) {series}{select}"
        else:
            sql = f"{series}INSERT INTO plait_jobs ({columns}) {select}"
        engine.execute(sql, (now, now, now, now))
        engine.execute(
            "UPDATE plait_jobs SET finished_at = NULL WHERE state IN "
            "('queued', 'running')"
        )
        engine.execute("ANALYZE plait_jobs")
    finally:
        engine.close()


def explain_without_seqscan(
    sql: str, params: tuple[Any, ...]
) -> Callable[[Any], list[str]]:
    def explain(tx: Any) -> list[str]:
        tx.count("SET LOCAL enable_seqscan = off")
        tx.count("SET LOCAL enable_bitmapscan = off")
        return [str(row[0]) for row in tx.rows("EXPLAIN " + sql, params)]

    return explain


@pytest.mark.parametrize("engine_name", ENGINES)
def test_admin_reads_follow_their_indexes(engine_name: str, tmp_path: Path) -> None:
    """No admin read scans the jobs table: each follows an index (SQLite:
    the one it pins; a rowid scan only in id order under a LIMIT). On
    PostgreSQL, whose planner may rightly prefer a sequential scan that a
    LIMIT stops early on a small table, each read must have an index path:
    with sequential scans disabled none is left."""
    for dsn in make_dsn(engine_name, tmp_path):
        big_table(dsn)
        statements = admin_statements(dsn)
        engine = open_engine(dsn)
        try:
            for sql, params in statements:
                # A page read straight along its index comes out in order: no
                # sort (but the running set, small by nature, is sorted).
                in_order = "ORDER BY" in sql and "state = 'running'" not in sql
                if engine.dialect == "sqlite":
                    plan = "\n".join(engine.explain(sql, params))
                    for line in plan.splitlines():
                        step = line.strip()
                        full_scan = step == "SCAN plait_jobs"
                        assert not full_scan or "ORDER BY id DESC" in sql, (sql, plan)
                    # Sorting the rows that tie on the index's order (a batch
                    # acknowledged at one instant) is fine; sorting the set is not.
                    full_sort = "TEMP B-TREE FOR ORDER BY" in plan
                    assert not (in_order and full_sort), (sql, plan)
                else:
                    explain = explain_without_seqscan(sql, params)
                    plan = "\n".join(engine.read_with(explain))
                    assert "Seq Scan on plait_jobs" not in plan, (sql, plan)
                    full_sort = bool(re.search(r"(?<!Incremental )Sort ", plan))
                    assert not (in_order and full_sort), (sql, plan)
        finally:
            engine.close()
