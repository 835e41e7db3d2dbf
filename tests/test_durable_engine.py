"""The engines' claim, lease and fencing rules, called directly (no event loop)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_scripts.support import ENGINES, make_engine, wait_until
from plait._jobs.durable._engine import MAX_LOST_LEASES, Ack, NewJob
from plait._jobs.durable._sqlite import SQLiteEngine


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from make_engine(request.param, tmp_path)


def job(type_: str = "t", **fields: Any) -> NewJob:
    values: dict[str, Any] = {
        "payload": "{}",
        "priority": 0,
        "not_before": time.time(),
        "idempotency_key": None,
        "max_attempts": None,
    }
    values.update(fields)
    return NewJob(type=type_, **values)


def claim(engine: Any, n: int, owner: str, lease: float = 30.0) -> Any:
    return engine.exchange(
        [], [], {"default": n}, owner=owner, lease=lease, now=time.time()
    )


def test_a_completion_under_an_expired_lease_is_rejected(engine: Any) -> None:
    (job_id,) = engine.insert([job()])
    expires = time.time() + 0.05
    (first,) = claim(engine, 1, "a", lease=0.05).claimed
    assert claim(engine, 1, "b").claimed == ()
    wait_until(lambda: time.time() > expires + 0.01, timeout=5, what="expiry")
    late = Ack(job_id, first.token, "done", result='"from a"')
    result = engine.exchange([late], [], {}, owner="a", lease=30, now=time.time())
    assert result.rejected == (job_id,)
    assert result.accepted == ()
    assert len(engine.reap(now=time.time())) == 1
    (second,) = claim(engine, 1, "b").claimed
    assert second.id == job_id
    assert second.token == first.token + 1
    assert second.attempts == 1
    # The first claimer's token stays fenced off even now the row runs again.
    again = engine.exchange([late], [], {}, owner="a", lease=30, now=time.time())
    assert again.rejected == (job_id,)
    ok = Ack(job_id, second.token, "done", result='"from b"')
    assert engine.exchange(
        [ok], [], {}, owner="b", lease=30, now=time.time()
    ).accepted == (job_id,)
    twice = engine.exchange([ok], [], {}, owner="b", lease=30, now=time.time())
    assert twice.rejected == (job_id,)
    record = engine.get(job_id)
    assert record.state == "done"
    assert record.result == "from b"
    assert record.lost_leases == 1


def test_heartbeat_extends_leases_and_reports_lost_ones(engine: Any) -> None:
    ids = engine.insert([job(), job()])
    claimed = claim(engine, 2, "a", lease=0.3).claimed
    held = [(c.id, c.token) for c in claimed]
    assert engine.heartbeat(held, lease=30, now=time.time()).lost == ()
    assert engine.reap(now=time.time() + 1) == []
    expires = time.time() + 0.01
    assert engine.heartbeat(held[:1], lease=0.01, now=time.time()).lost == ()
    wait_until(lambda: time.time() > expires + 0.01, timeout=5, what="expiry")
    assert engine.heartbeat(held, lease=30, now=time.time()).lost == (ids[0],)


def test_release_requeues_without_spending_an_attempt(engine: Any) -> None:
    (job_id,) = engine.insert([job()])
    (c,) = claim(engine, 1, "a").claimed
    engine.exchange([], [(c.id, c.token)], {}, owner="a", lease=30, now=time.time())
    record = engine.get(job_id)
    assert record.state == "queued"
    assert record.attempts == 0
    (again,) = claim(engine, 1, "b").claimed
    assert again.attempts == 1
    assert again.token == c.token + 1


def test_retry_stores_backoff_as_not_before(engine: Any) -> None:
    (job_id,) = engine.insert([job()])
    (c,) = claim(engine, 1, "a").claimed
    due = time.time() + 3600
    retry = Ack(job_id, c.token, "retry", error="boom", not_before=due, max_attempts=3)
    engine.exchange([retry], [], {}, owner="a", lease=30, now=time.time())
    record = engine.get(job_id)
    assert record.state == "retrying"
    assert record.not_before == pytest.approx(due)
    assert record.error == "boom"
    assert record.max_attempts == 3
    assert claim(engine, 1, "a").claimed == ()
    assert engine.next_due(["default"]) == pytest.approx(due)


# What an array in text would have to quote or could misread (results are
# stored as JSON, errors as they are).
AWKWARD = ['"quoted"', "back\\slash", "{braces}", "a,b", "NULL", "", "é ✓", " pad "]


def test_results_and_errors_of_a_batch_are_stored_as_given(engine: Any) -> None:
    ids = engine.insert([job() for _ in range(2 * len(AWKWARD) + 1)])
    claimed = claim(engine, len(ids), "a").claimed
    done, failed, plain = (
        claimed[: len(AWKWARD)],
        claimed[len(AWKWARD) : -1],
        claimed[-1],
    )
    due = time.time() + 3600
    acks = [
        Ack(c.id, c.token, "done", result=json.dumps(text), max_attempts=None)
        for c, text in zip(done, AWKWARD, strict=True)
    ]
    acks += [
        Ack(c.id, c.token, "retry", error=text, not_before=due, max_attempts=2 + i)
        for i, (c, text) in enumerate(zip(failed, AWKWARD, strict=True))
    ]
    acks.append(Ack(plain.id, plain.token, "done"))
    result = engine.exchange(acks, [], {}, owner="a", lease=30, now=time.time())
    assert sorted(result.accepted) == sorted(ids)
    for c, text in zip(done, AWKWARD, strict=True):
        record = engine.get(c.id)
        assert (record.state, record.result, record.error) == ("done", text, None)
    for i, (c, text) in enumerate(zip(failed, AWKWARD, strict=True)):
        record = engine.get(c.id)
        assert (record.state, record.error, record.max_attempts) == (
            "retrying",
            text,
            2 + i,
        )
        assert record.not_before == pytest.approx(due)
    record = engine.get(plain.id)
    assert (record.state, record.result) == ("done", None)


def test_a_job_that_keeps_killing_workers_is_dead_lettered(engine: Any) -> None:
    (job_id,) = engine.insert([job()])
    for round_ in range(MAX_LOST_LEASES):
        (c,) = claim(engine, 1, f"w{round_}", lease=0.01).claimed
        assert c.attempts == 1
        (reaped,) = engine.reap(now=time.time() + 1)
        assert (reaped.id, reaped.attempt, reaped.worker) == (job_id, 1, f"w{round_}")
        final = round_ == MAX_LOST_LEASES - 1
        assert reaped.state == ("dead" if final else "queued")
    record = engine.get(job_id)
    assert record.state == "dead"
    assert record.lost_leases == MAX_LOST_LEASES
    assert record.error is not None
    assert f"lease lost {MAX_LOST_LEASES} times" in record.error
    assert f"w{MAX_LOST_LEASES - 1}" in record.error
    history = engine.attempts(job_id)
    assert [(a.attempt, a.outcome, a.worker) for a in history] == [
        (1, "lost", f"w{n}") for n in range(MAX_LOST_LEASES)
    ]


def test_claims_are_exclusive_and_ordered(engine: Any) -> None:
    engine.insert([job(priority=p) for p in (1, 3, 2, 3)])
    first = claim(engine, 2, "a").claimed
    second = claim(engine, 5, "b").claimed
    assert [c.priority for c in first] == [3, 3]
    assert [c.priority for c in second] == [2, 1]
    assert {c.id for c in first}.isdisjoint(c.id for c in second)


def test_sqlite_claim_stays_on_its_index_with_100k_finished_rows(
    tmp_path: Path,
) -> None:
    engine = SQLiteEngine(str(tmp_path / "big.db"))
    try:
        now = time.time()
        # The story from production: ANALYZE ran while the table was all
        # queued, then the jobs finished and new ones arrived.
        engine.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 100000) INSERT INTO plait_jobs (type, payload, state, "
            "not_before, attempts, created_at) "
            "SELECT 'old', '{}', 'queued', ?, 0, ? FROM n",
            (now, now),
        )
        engine.execute("ANALYZE")
        engine.execute(
            "UPDATE plait_jobs SET state = 'done', attempts = 1, finished_at = ?",
            (now,),
        )
        engine.insert([job() for _ in range(100)])
        plan = " ".join(engine.explain_claim())
        assert "USING COVERING INDEX plait_jobs_ready (queue=?)" in plan, plan
        assert "SCAN plait_jobs" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        # The work counted in SQLite's virtual-machine steps, not timed: a
        # loaded machine changes the time, never the count.
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 100
            return 0

        engine._conn.set_progress_handler(count, 100)
        for _ in range(20):
            result = claim(engine, 5, "a")
            acks = [Ack(c.id, c.token, "done") for c in result.claimed]
            engine.exchange(acks, [], {}, owner="a", lease=30, now=time.time())
        engine._conn.set_progress_handler(None, 0)
        assert engine.stats(now=time.time()).counts["done"] == 100_100
        # A scan of 100k rows takes a few steps a row; the index, about 1,500
        # steps a claim (and acknowledgement) in all.
        per_claim = steps / 20
        assert per_claim < 20_000, f"{per_claim:,.0f} steps per claim"
    finally:
        engine.close()


def test_sqlite_claim_fails_loudly_without_its_index(tmp_path: Path) -> None:
    # INDEXED BY is a pin, not a hint: the claim cannot silently fall back
    # to scanning the table.
    engine = SQLiteEngine(str(tmp_path / "noindex.db"))
    try:
        engine.execute("DROP INDEX plait_jobs_ready")
        with pytest.raises(Exception, match="plait_jobs_ready"):
            claim(engine, 1, "a")
    finally:
        engine.close()
