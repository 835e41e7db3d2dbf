"""Static types of ``plait.testing``, checked by ``mypy --strict`` (and run)."""

from __future__ import annotations

from typing import assert_type

import anyio
import anyio.lowlevel
from hypothesis import strategies as st

from plait import testing


async def scaled(factor: int, word: str) -> str:
    await anyio.lowlevel.checkpoint()
    return word * factor


def test_run_keeps_the_result_type() -> None:
    assert_type(testing.run(scaled, 2, "ab"), str)
    assert_type(testing.run(scaled, 2, "ab", backend="trio", fuzz_seed=1), str)


async def test_wrapped_functions_keep_their_signature() -> None:
    probe = testing.ConcurrencyProbe()
    timeline = testing.Timeline()
    assert_type(await probe.wrap(scaled)(2, "a"), str)
    assert_type(await timeline.wrap(scaled, "label")(2, "a"), str)


async def test_clocks_share_one_protocol() -> None:
    clock: testing.Clock = testing.current_clock()
    assert_type(clock.now(), float)
    assert_type(clock.virtual, bool)
    assert_type(testing.VirtualClock().approx(1.0), testing.Approx)


def test_strategies_are_typed() -> None:
    assert_type(testing.fuzz_seeds(), st.SearchStrategy[int])
    assert_type(testing.job_plans(), st.SearchStrategy[testing.JobPlan])
    assert_type(testing.job_specs(), st.SearchStrategy[testing.JobSpec])
