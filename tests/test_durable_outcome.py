"""The handler's Job built from a claimed row: the same Job its checks make."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

import plait
from plait._jobs.durable._engine import Claimed
from plait._jobs.durable._outcome import error_type, make_job

names = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=12)
payloads = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5))


@given(
    job_id=st.integers(1, 2**62),
    type_=names,
    payload=payloads,
    priority=st.integers(-(2**31), 2**31 - 1),
    not_before=st.floats(0, 2e9),
    key=st.none() | names,
    attempts=st.integers(1, 100),
    token=st.integers(1, 100),
    queue=names,
)
def test_make_job_equals_the_checked_job(
    job_id: int,
    type_: str,
    payload: dict[str, int | str],
    priority: int,
    not_before: float,
    key: str | None,
    attempts: int,
    token: int,
    queue: str,
) -> None:
    claimed = Claimed(
        job_id,
        type_,
        json.dumps(payload),
        priority,
        not_before,
        key,
        attempts,
        token,
        queue,
    )
    job = make_job(claimed, json.loads(claimed.payload))
    assert job == plait.Job(
        type_,
        payload,
        priority=priority,
        not_before=not_before,
        idempotency_key=key,
        id=str(job_id),
        attempt=attempts,
        queue=queue,
    )


def test_an_error_type_with_nul_is_storable() -> None:
    # PostgreSQL's text cannot hold NUL: a class named so, unescaped, made the
    # ack fail and the job fail every worker in turn.
    odd = type("OddError", (Exception,), {"__module__": "plug\x00in"})
    odd.__qualname__ = "Odd\x00Error"
    assert error_type(odd()) == "plug\\x00in.Odd\\x00Error"
    assert error_type(ValueError()) == "ValueError"
