"""checkpoint, effective_deadline, remaining, shield."""

from __future__ import annotations

import math

import anyio
import pytest

import plait
from plait.testing import Clock


async def test_checkpoint_raises_in_a_cancelled_scope() -> None:
    reached = False
    with anyio.CancelScope() as scope:
        scope.cancel()
        await plait.checkpoint()
        reached = True
    assert not reached
    assert scope.cancelled_caught


async def test_checkpoint_lets_another_task_run() -> None:
    ran = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _set(ran))
        await plait.checkpoint()
        await plait.checkpoint()
        assert ran.is_set()


async def _set(event: anyio.Event) -> None:
    event.set()


async def test_effective_deadline_is_none_without_a_deadline() -> None:
    assert plait.effective_deadline() is None
    assert plait.remaining() is None


async def test_effective_deadline_is_the_nearest_enclosing_one() -> None:
    with anyio.move_on_after(100):
        outer = plait.effective_deadline()
        with anyio.move_on_after(10):
            inner = plait.effective_deadline()
            with anyio.move_on_after(1000):
                assert plait.effective_deadline() == inner
    assert outer is not None
    assert inner is not None
    assert inner < outer


async def test_effective_deadline_is_minus_inf_in_a_cancelled_scope() -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        assert plait.effective_deadline() == -math.inf
        assert plait.remaining() == 0.0


async def test_remaining_counts_down_and_stops_at_zero() -> None:
    with anyio.move_on_after(50):
        left = plait.remaining()
        assert left is not None
        assert 0 < left <= 50
    deadline = anyio.current_time() - 1
    with anyio.move_on_at(deadline):
        assert plait.remaining() == 0.0


async def test_remaining_never_exceeds_the_time_really_left() -> None:
    # A deadline a few ulps past now + 50: what the float sum behind
    # move_on_after(50) gives at some clock readings.
    now = anyio.current_time()
    deadline = math.nextafter(math.nextafter(now + 50, math.inf), math.inf)
    with anyio.move_on_at(deadline):
        left = plait.remaining()
        assert left is not None
        assert 49 < left <= 50


@pytest.mark.virtual_time
async def test_remaining_right_after_move_on_after_is_the_timeout(clock: Clock) -> None:
    if not clock.virtual:
        pytest.skip("needs a clock that stands still: virtual time only")
    # At this reading `now + 50` rounds up, to 50.00000000000003 s away.
    clock.advance(254.83787681536361)
    with anyio.move_on_after(50) as scope:
        assert scope.deadline - anyio.current_time() > 50
        assert plait.remaining() == 50.0
    with anyio.move_on_after(0.0000019):
        assert plait.remaining() == 0.000001
    with anyio.move_on_after(0.0000004):
        assert plait.remaining() == 0.0


async def test_shield_protects_cleanup_from_outer_cancellation() -> None:
    cleaned = False
    with anyio.CancelScope() as outer:
        outer.cancel()
        with plait.shield() as shielded:
            assert shielded.shield
            await anyio.sleep(0)
            cleaned = True
    assert cleaned


async def test_shield_returns_a_fresh_scope_each_time() -> None:
    assert plait.shield() is not plait.shield()


def test_effective_deadline_outside_a_loop_is_an_error() -> None:
    with pytest.raises(RuntimeError):  # anyio's NoEventLoopError
        plait.effective_deadline()
