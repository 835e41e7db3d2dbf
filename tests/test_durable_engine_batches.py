"""A batched acknowledgement decides each ack as if it were alone.

The engines write a batch of acks (and releases) in a few set-based
statements; each ack must still be accepted or rejected by its own job's
state, token and lease, and an accepted one must write what its kind says.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable_scripts.support import ENGINES, make_engine
from plait._jobs.durable._engine import Ack, NewJob
from plait._jobs.durable._sqlite import CHUNK


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    yield from make_engine(request.param, tmp_path)


def insert(engine: Any, n: int) -> list[int]:
    now = time.time() - 1
    jobs = [NewJob("t", "{}", 0, now, None, None) for _ in range(n)]
    return list(engine.insert(jobs))


def claim(engine: Any, n: int, lease: float) -> Any:
    now = time.time()
    return engine.exchange([], [], {"default": n}, owner="w", lease=lease, now=now)


def test_a_mixed_batch_larger_than_a_chunk_gets_each_acks_own_verdict(
    engine: Any,
) -> None:
    n = 2 * CHUNK + 7
    insert(engine, n)
    held = sorted(claim(engine, n, 60).claimed, key=lambda c: c.id)
    assert len(held) == n
    (expired_id,) = insert(engine, 1)
    (expired,) = claim(engine, 1, -5).claimed
    # Every sixth job (kind 3) has its cancellation asked for while it runs.
    flagged = [c.id for i, c in enumerate(held) if i % 6 == 3]
    assert set(engine.cancel(flagged, now=time.time()).values()) == {"running"}
    acks: list[Ack] = []
    want_accepted: list[int] = []
    want_rejected: list[int] = []
    for i, c in enumerate(held):
        kind = i % 6
        if kind == 0:
            # Grouped by attempts: 5 sets it, None keeps the row's (None).
            attempts = 5 if c.id % 2 else None
            done = Ack(c.id, c.token, "done", f'"r{c.id}"', max_attempts=attempts)
            acks.append(done)
        elif kind == 1:
            acks.append(Ack(c.id, c.token - 1, "done", result='"stale"'))
        elif kind in (2, 3):
            acks.append(
                Ack(
                    c.id, c.token, "retry", error=f"tb{c.id}", not_before=1e10
                )._replace(max_attempts=9, attempt=1, message="boom")
            )
        elif kind == 4:
            acks.append(Ack(c.id, c.token, "done", error="kept", max_attempts=4))
        else:
            acks.append(Ack(c.id, c.token, "dead", error=f"tb{c.id}"))
            acks.append(Ack(c.id, c.token, "done", result='"twice"'))
            want_rejected.append(c.id)
        if kind == 1:
            want_rejected.append(c.id)
        else:
            want_accepted.append(c.id)
    acks.append(Ack(expired_id, expired.token, "done", result='"late"'))
    want_rejected.append(expired_id)
    got = engine.exchange(acks, [], {}, owner="w", lease=60, now=time.time())
    assert sorted(got.accepted) == sorted(want_accepted)
    assert sorted(got.rejected) == sorted(want_rejected)
    # Both lists keep the order the acks came in.
    assert list(got.accepted) == [a for a in got.accepted if a in want_accepted]
    order = {a.id: i for i, a in reversed(list(enumerate(acks)))}
    assert list(got.accepted) == sorted(got.accepted, key=order.__getitem__)
    for i, c in enumerate(held):
        record = engine.get(c.id)
        kind = i % 6
        assert record.lease_owner is None or kind == 1
        if kind == 0:
            assert (record.state, record.result) == ("done", f"r{c.id}")
            assert record.max_attempts == (5 if c.id % 2 else None)
            assert record.error is None
            assert record.finished_at is not None
        elif kind == 1:
            assert record.state == "running"
            assert record.result is None
        elif kind == 2:
            assert (record.state, record.error) == ("retrying", f"tb{c.id}")
            assert (record.not_before, record.max_attempts) == (1e10, 9)
            assert record.finished_at is None
        elif kind == 3:
            assert (record.state, record.error) == ("cancelled", f"tb{c.id}")
            assert record.finished_at is not None
        elif kind == 4:
            assert (record.state, record.error) == ("done", "kept")
            assert record.max_attempts == 4
        else:
            assert (record.state, record.error) == ("dead", f"tb{c.id}")
            assert record.result is None
        failed = [a.outcome for a in engine.attempts(c.id)]
        assert failed == {2: ["failed"], 3: ["failed"], 5: ["failed"]}.get(kind, [])
    assert engine.get(expired_id).state == "running"


def test_a_batched_release_frees_only_jobs_still_held(engine: Any) -> None:
    n = CHUNK + 3
    insert(engine, n)
    held = sorted(claim(engine, n, 60).claimed, key=lambda c: c.id)
    engine.cancel([held[0].id], now=time.time())
    release = [(c.id, c.token - (i % 2 == 1 and i > 0)) for i, c in enumerate(held)]
    engine.exchange([], release, {}, owner="w", lease=60, now=time.time())
    states = [engine.get(c.id).state for c in held]
    assert states[0] == "cancelled"
    assert states[1::2] == ["running"] * len(states[1::2])
    assert states[2::2] == ["queued"] * len(states[2::2])
    assert all(engine.get(c.id).attempts == 0 for c in held[2::2])


def test_sqlite_verdicts_ignore_rows_a_trigger_writes(tmp_path: Path) -> None:
    # A batch is taken as written whole when its count of changed rows says
    # so; rows written by a trigger (an operator's audit table) must not
    # fill in for acks that were refused.
    from plait._jobs.durable._sqlite import SQLiteEngine

    engine = SQLiteEngine(str(tmp_path / "jobs.db"))
    engine.execute("CREATE TABLE audit (job_id INTEGER)")
    engine.execute(
        "CREATE TRIGGER audit_done AFTER UPDATE OF state ON plait_jobs "
        "BEGIN INSERT INTO audit VALUES (new.id); END"
    )
    insert(engine, 8)
    held = claim(engine, 8, lease=60).claimed
    acks = [
        Ack(c.id, c.token - (i % 2), "done", result='"ok"') for i, c in enumerate(held)
    ]
    got = engine.exchange(acks, [], {}, owner="w", lease=60, now=time.time())
    stale = [c.id for i, c in enumerate(held) if i % 2]
    assert sorted(got.rejected) == sorted(stale)
    assert sorted(got.accepted) == sorted(c.id for c in held if c.id not in stale)
    engine.close()
