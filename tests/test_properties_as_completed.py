"""Properties of ``as_completed``: every kind of job, cancelled at any instant.

The scenarios and their invariants are the stress harness's (``stress/``):
jobs from ``plait.testing.job_plans`` (they return, fail, hang, fail in
their cleanup, swallow the cancellation and return, or raise a
BaseException), each mode of the pattern, an enclosing deadline, a sibling
cancelling the scope or asyncio's ``Task.cancel()`` at a drawn instant, on
virtual time (real time on uvloop) under a drawn fuzzing seed. Every real
failure surfaces exactly once, the call ends as the cancellation only when
nothing failed, nothing is invented or left running, the limits hold.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stress import FAMILIES, check, scenarios
from stress._model import Backend

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(data=st.data())
def test_nothing_is_lost_under_an_outer_cancellation(
    backend: Backend, data: st.DataObject
) -> None:
    check(data.draw(scenarios(FAMILIES["as_completed"], backend)), backend)
