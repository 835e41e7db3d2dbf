"""The schema's versions: migrating a first-release database in place,
refusing a newer one, and the query plans the hot paths rely on."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

import plait
from durable_scripts.support import make_dsn
from plait._jobs.durable._calls import open_engine
from plait._jobs.durable._engine import Ack, NewJob
from plait._jobs.durable._schema import SCHEMA_VERSION
from plait._jobs.durable._sqlite import SQLiteEngine

V1 = Path(__file__).parent / "durable_scripts" / "v1"
TIMES = ("not_before", "lease_expires", "created_at", "started_at", "finished_at")
V1_COLUMNS = (
    "id, type, payload, priority, state, attempts, max_attempts, idempotency_key, "
    "lease_token, lease_owner, lost_leases, result, error"
)


def load_v1(engine: str, tmp_path: Path) -> Iterator[str]:
    """Yield a DSN holding the first release's database (see make_v1_dumps.py),
    its clock moved to now so its live lease is still live."""
    for dsn in make_dsn(engine, tmp_path):
        script = (V1 / f"{engine}.sql").read_text()
        conn: Any
        if engine == "sqlite":
            conn = sqlite3.connect(dsn.removeprefix("sqlite:///"))
            conn.executescript(script)
        else:
            import psycopg

            conn = psycopg.connect(dsn, autocommit=True)
            conn.execute(script)
        run = conn.execute
        ((made,),) = run("SELECT max(created_at) FROM plait_jobs").fetchall()
        shift = ", ".join(f"{c} = {c} + {time.time() - made!r}" for c in TIMES)
        run(f"UPDATE plait_jobs SET {shift}")
        if engine == "sqlite":
            conn.commit()
        conn.close()
        yield dsn


@pytest.fixture(params=["sqlite", "postgres"])
def v1_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from load_v1(request.param, tmp_path)


def rows(engine: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in engine.execute(sql, params)]


def test_a_first_release_database_is_migrated_in_place(v1_dsn: str) -> None:
    before = _v1_rows(v1_dsn)
    assert {row[4] for row in before} == {
        "queued",
        "running",
        "retrying",
        "done",
        "dead",
    }
    engine = open_engine(v1_dsn)
    try:
        ((version, plait_version, applied),) = rows(
            engine,
            "SELECT version, plait_version, applied_at FROM plait_schema_version",
        )
        assert version == SCHEMA_VERSION
        assert plait_version
        assert applied == pytest.approx(time.time(), abs=60)
        # Every row and column the first release wrote is unchanged.
        assert (
            rows(engine, f"SELECT {V1_COLUMNS} FROM plait_jobs ORDER BY id") == before
        )
        assert rows(engine, "SELECT DISTINCT queue FROM plait_jobs") == [("default",)]
        running = rows(
            engine,
            "SELECT lease_owner, worker FROM plait_jobs WHERE state = 'running' "
            "ORDER BY id",
        )
        assert running == [("v1-live", "v1-live"), ("v1-gone", "v1-gone")]
        by_payload = {
            record.payload["n"]: record
            for record in (engine.get(row[0]) for row in before)
            if record is not None
        }
        # The one error a first-release job kept becomes its attempt history.
        history = {
            n: [
                (a.attempt, a.outcome, a.error_type, a.message)
                for a in engine.attempts(int(r.id))
            ]
            for n, r in by_payload.items()
        }
        assert history[1] == [(1, "failed", "ValueError", "flaky attempt 1")]
        assert history[2] == [(2, "failed", "KeyError", "'missing 2'")]
        assert history[3] == [(1, "failed", "RuntimeError", "try again in an hour")]
        ((_, outcome, error_type, message),) = history[4]
        assert (outcome, error_type) == ("failed", None)
        assert message is not None
        assert message.startswith("no handler registered for job type 'nobody'")
        assert history[15] == [
            (
                1,
                "lost",
                None,
                "lease lost 3 times: the worker running it died or hung "
                "(last: v1-crash-2)",
            )
        ]
        assert all(history[n] == [] for n in (0, 5, 10, 11, 12, 13, 14))
        # The first release's worker still holding a lease can record its
        # outcome: the claim's token carries over.
        live = by_payload[13]
        ((token,),) = rows(
            engine, "SELECT lease_token FROM plait_jobs WHERE id = ?", int(live.id)
        )
        ack = Ack(int(live.id), token, "done", result='"late v1"')
        done = engine.exchange(
            [ack], [], {}, owner="v1-live", lease=30, now=time.time()
        )
        assert done.accepted == (int(live.id),)
        # Jobs that were waiting are claimable by queue, in priority order.
        assert [r.id for r in engine.reap(now=time.time())] == [int(by_payload[14].id)]
        cancelled = engine.cancel([int(by_payload[3].id)], now=time.time())
        assert cancelled == {int(by_payload[3].id): "cancelled"}
    finally:
        engine.close()
    handlers = plait.JobHandlers()

    @handlers.register("ok")
    async def ok(job: plait.Job) -> dict[str, Any]:
        return {"n": job.payload["n"], "again": True}

    async def drain() -> None:
        await plait.JobWorker(
            v1_dsn, handlers, until_empty=True, poll_interval=0.01
        ).run()

    anyio.run(drain)
    engine = open_engine(v1_dsn)
    try:
        states = dict(
            rows(engine, "SELECT payload, state FROM plait_jobs WHERE type = 'ok'")
        )
        assert states == {
            **{f'{{"n": {n}}}': "done" for n in (0, 1, 2, 5, 10, 11, 13, 14)},
            '{"n": 12}': "queued",
            '{"n": 15}': "dead",
        }
        assert engine.get(int(by_payload[14].id)).result == {"n": 14, "again": True}  # type: ignore[union-attr]
        assert engine.get(int(by_payload[13].id)).result == "late v1"  # type: ignore[union-attr]
        # A second open finds the current version: nothing is migrated twice.
        assert rows(engine, "SELECT count(*) FROM plait_schema_version") == [(1,)]
        if v1_dsn.startswith("postgresql"):
            assert key_indexes(engine) == [PARTIAL_KEY]
    finally:
        engine.close()
    again = open_engine(v1_dsn)
    try:
        assert rows(again, "SELECT count(*) FROM plait_schema_version") == [(1,)]
        assert len(again.attempts(int(by_payload[1].id))) == 1
    finally:
        again.close()


def _v1_rows(dsn: str) -> list[tuple[Any, ...]]:
    sql = f"SELECT {V1_COLUMNS} FROM plait_jobs ORDER BY id"
    if dsn.startswith("sqlite:"):
        conn = sqlite3.connect(dsn.removeprefix("sqlite:///"))
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as pg:
        return [tuple(r) for r in pg.execute(sql).fetchall()]


@pytest.mark.parametrize("round", range(5))
def test_first_use_by_several_processes_at_once_migrates_once(
    tmp_path: Path, round: int
) -> None:
    # Each opener also switches the file to WAL, which takes its lock: one
    # that found it taken by another's migration was refused at once, about
    # one time in three hundred, before openers took the writers' turn.
    for dsn in load_v1("sqlite", tmp_path):
        engines: list[Any] = []
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=_open_into, args=(dsn, engines, errors))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        try:
            assert engines[0].execute("SELECT version FROM plait_schema_version") == [
                (SCHEMA_VERSION,)
            ]
            ((attempts,),) = engines[0].execute("SELECT count(*) FROM plait_attempts")
            assert attempts == 5
        finally:
            for engine in engines:
                engine.close()


def _open_into(dsn: str, engines: list[Any], errors: list[BaseException]) -> None:
    try:
        engines.append(SQLiteEngine(dsn))
    except BaseException as exc:  # pragma: no cover - reported by the test
        errors.append(exc)


@pytest.mark.parametrize("engine_name", ["sqlite", "postgres"])
def test_a_schema_newer_than_the_code_is_refused(
    engine_name: str, tmp_path: Path
) -> None:
    for dsn in make_dsn(engine_name, tmp_path):
        engine = open_engine(dsn)
        engine.insert([_job()])
        engine.execute(
            "INSERT INTO plait_schema_version (version, plait_version, applied_at) "
            "VALUES (?, ?, ?)",
            (SCHEMA_VERSION + 1, "9.9.9", time.time()),
        )
        engine.close()
        with pytest.raises(plait.SchemaVersionError) as info:
            open_engine(dsn)
        message = str(info.value)
        assert f"schema version {SCHEMA_VERSION + 1}, newer than this plait" in message
        assert f"understands ({SCHEMA_VERSION})" in message
        assert "upgrade plait" in message

        with pytest.raises(plait.SchemaVersionError):
            anyio.run(_enter, dsn)


PARTIAL_KEY = (
    "CREATE UNIQUE INDEX plait_jobs_key ON plait_jobs USING btree "
    "(idempotency_key) WHERE (idempotency_key IS NOT NULL)"
)


def key_indexes(engine: Any) -> list[str]:
    """The definitions of PostgreSQL's indexes on the idempotency key, with
    the schema left out."""
    return [
        definition.replace(f" {schema}.", " ")
        for schema, definition in rows(
            engine,
            "SELECT schemaname, indexdef FROM pg_indexes "
            "WHERE tablename = 'plait_jobs' AND schemaname = current_schema() "
            "AND strpos(indexdef, ?) > 0",
            "(idempotency_key)",
        )
    ]


def test_a_version_2_postgres_database_gets_the_partial_key_index(
    tmp_path: Path,
) -> None:
    for dsn in make_dsn("postgres", tmp_path):
        engine = open_engine(dsn)
        try:
            assert key_indexes(engine) == [PARTIAL_KEY]
            # Back to version 2: the key's uniqueness a column constraint.
            engine.execute("DROP INDEX plait_jobs_key")
            engine.execute(
                "ALTER TABLE plait_jobs ADD CONSTRAINT plait_jobs_idempotency_key_key "
                "UNIQUE (idempotency_key)"
            )
            engine.execute("DELETE FROM plait_schema_version")
            engine.execute(
                "INSERT INTO plait_schema_version (version, plait_version, "
                "applied_at) VALUES (2, '0.1.0', ?)",
                (time.time(),),
            )
            kept = engine.insert([_job(idempotency_key="k1"), _job(), _job()])
        finally:
            engine.close()
        engine = open_engine(dsn)
        try:
            assert rows(
                engine, "SELECT version FROM plait_schema_version ORDER BY 1"
            ) == [(2,), (SCHEMA_VERSION,)]
            assert key_indexes(engine) == [PARTIAL_KEY]
            assert rows(
                engine,
                "SELECT count(*) FROM pg_constraint WHERE contype = 'u' "
                "AND conrelid = 'plait_jobs'::regclass",
            ) == [(0,)]
            # A key still submits once; jobs without one are all kept.
            again = engine.insert(
                [_job(idempotency_key="k1"), _job(idempotency_key="k2"), _job()]
            )
            assert again[0] == kept[0]
            assert len(set(kept + again)) == 5
            assert rows(engine, "SELECT count(*) FROM plait_jobs") == [(5,)]
        finally:
            engine.close()


async def _enter(dsn: str) -> None:
    async with plait.DurableBackend(dsn):
        pass  # pragma: no cover - refused on entering


def _job(**fields: Any) -> NewJob:
    values: dict[str, Any] = {
        "type": "t",
        "payload": "{}",
        "priority": 0,
        "not_before": time.time(),
        "idempotency_key": None,
        "max_attempts": None,
    }
    values.update(fields)
    return NewJob(**values)


def test_sqlite_hot_paths_use_their_indexes(tmp_path: Path) -> None:
    engine = SQLiteEngine(str(tmp_path / "plans.db"))
    try:
        counts = " ".join(
            engine.explain(
                "SELECT queue, state, count(*) FROM plait_jobs INDEXED BY "
                "plait_jobs_ready WHERE state IN ('queued', 'retrying') GROUP BY 1, 2"
            )
        )
        assert "COVERING INDEX plait_jobs_ready" in counts, counts
        finished = " ".join(
            engine.explain(
                "SELECT state, queue, count(*) FROM plait_jobs INDEXED BY "
                "plait_jobs_finished WHERE state IN ('done', 'dead', 'cancelled') "
                "AND finished_at >= ? GROUP BY 1, 2",
                (0.0,),
            )
        )
        assert (
            "COVERING INDEX plait_jobs_finished (state=? AND finished_at>?)" in finished
        ), finished
        reap = " ".join(
            engine.explain(
                "SELECT id FROM plait_jobs WHERE state = 'running' "
                "AND lease_expires < ?",
                (0.0,),
            )
        )
        assert "INDEX plait_jobs_lease (lease_expires<?)" in reap, reap
        history = " ".join(
            engine.explain(
                "SELECT * FROM plait_attempts WHERE job_id = ? ORDER BY id", (1,)
            )
        )
        assert "INDEX plait_attempts_job (job_id=?)" in history, history
        assert "TEMP B-TREE" not in history, history
    finally:
        engine.close()


def test_postgres_claim_uses_the_ready_index(tmp_path: Path) -> None:
    for dsn in make_dsn("postgres", tmp_path):
        engine = open_engine(dsn)
        try:
            now = time.time()
            engine.execute(
                "INSERT INTO plait_jobs (type, payload, state, not_before, created_at, "
                "finished_at, queue) SELECT 't', '{}', 'done', ?, ?, ?, 'default' "
                "FROM generate_series(1, 20000)",
                (now, now, now),
            )
            engine.insert(
                [_job(queue=q) for q in ("default", "mail") for _ in range(50)]
            )
            engine.execute("ANALYZE plait_jobs")
            from plait._jobs.durable._postgres import CLAIM

            plan = "\n".join(
                engine.explain(
                    CLAIM,
                    cast(
                        Any,
                        {
                            "queue": "mail",
                            "now": now,
                            "n": 10,
                            "owner": "w",
                            "expires": now,
                        },
                    ),
                )
            )
            assert "plait_jobs_ready" in plan, plan
            assert "Seq Scan" not in plan, plan
        finally:
            engine.close()
