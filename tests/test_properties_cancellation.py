"""Every pattern, every kind of job, cancelled from outside at any instant.

The scenarios and their invariants are the stress harness's (``stress/``):
jobs from ``plait.testing.job_plans`` (they return, fail, hang, fail in
their cleanup, swallow the cancellation and return, or raise a
BaseException), each mode of the pattern, an enclosing deadline, a sibling
cancelling the scope or asyncio's ``Task.cancel()`` at a drawn instant, on
virtual time (real time on uvloop) under a drawn fuzzing seed. Every real
failure surfaces exactly once, the call ends as the cancellation only when
nothing failed, nothing is invented or left running, the limits hold, a
race's winner is kept. Each pattern's own properties are in
``test_properties_<pattern>.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stress import FAMILIES, check, scenarios
from stress._model import Backend

PATTERNS = ["gather", "race", "bounded_map", "imap", "as_completed", "retry"]


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=30)
@given(data=st.data())
def test_nothing_is_lost_under_an_outer_cancellation(
    backend: Backend, pattern: str, data: st.DataObject
) -> None:
    check(data.draw(scenarios(FAMILIES[pattern], backend)), backend)
