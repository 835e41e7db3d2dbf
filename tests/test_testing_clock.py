"""Virtual time on asyncio and trio, real time on uvloop, one clock API."""

from __future__ import annotations

import inspect
import itertools
import math
import threading
import time

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import pytest

import plait
from plait.testing import (
    RealClock,
    VirtualClock,
    VirtualTimeNotSupportedError,
    current_clock,
    run,
)

pytestmark = pytest.mark.virtual_time


async def test_an_hour_of_sleep_takes_no_wall_time(
    clock: VirtualClock | RealClock,
) -> None:
    nap = 3600.0 if clock.virtual else 0.05
    wall = time.perf_counter()
    start = clock.now()
    await anyio.sleep(nap)
    assert clock.now() - start == clock.approx(nap)
    if clock.virtual:
        assert clock.now() == 3600.0
        assert time.perf_counter() - wall < 1.0


async def test_current_clock_is_the_fixture(clock: VirtualClock | RealClock) -> None:
    found = current_clock()
    if clock.virtual:
        assert found is clock
    else:
        assert isinstance(found, RealClock)


async def test_fail_after_fires_at_the_exact_instant(
    clock: VirtualClock | RealClock,
) -> None:
    timeout = 30.0 if clock.virtual else 0.05
    start = clock.now()
    with pytest.raises(TimeoutError):
        with anyio.fail_after(timeout):
            await anyio.sleep_forever()
    assert clock.now() - start == clock.approx(timeout)


async def test_move_on_after_cancels_at_the_exact_instant(
    clock: VirtualClock | RealClock,
) -> None:
    timeout = 7.25 if clock.virtual else 0.05
    start = clock.now()
    with anyio.move_on_after(timeout) as scope:
        await anyio.sleep(timeout * 10)
    assert scope.cancelled_caught
    assert clock.now() - start == clock.approx(timeout)


async def test_nested_deadlines_fire_in_order(clock: VirtualClock | RealClock) -> None:
    unit = 1.0 if clock.virtual else 0.03
    start = clock.now()
    fired: list[float] = []
    with anyio.move_on_after(3 * unit):
        with anyio.move_on_after(unit):
            await anyio.sleep_forever()
        fired.append(clock.now() - start)
        await anyio.sleep_forever()
    fired.append(clock.now() - start)
    assert fired == [clock.approx(unit), clock.approx(3 * unit)]


async def test_retry_backs_off_at_exact_instants(
    clock: VirtualClock | RealClock,
) -> None:
    base = 0.1 if clock.virtual else 0.03
    attempts: list[float] = []

    async def flaky() -> str:
        attempts.append(clock.now())
        if len(attempts) < 4:
            raise ConnectionError("down")
        return "up"

    result = await plait.retry(flaky, attempts=4, base_delay=base, jitter=0)
    assert result == "up"
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps == [clock.approx(base), clock.approx(2 * base), clock.approx(4 * base)]


async def test_timeout_around_retry_gives_up_before_the_deadline(
    clock: VirtualClock | RealClock,
) -> None:
    base = 1.0 if clock.virtual else 0.05
    calls: list[float] = []

    async def down() -> None:
        calls.append(clock.now())
        raise ConnectionError("down")

    start = clock.now()
    with pytest.raises(ConnectionError), anyio.fail_after(2.5 * base):
        await plait.retry(down, attempts=10, base_delay=base, jitter=0)
    # Attempts at 0, 1 and 3 units; the next (at 7) could not start in time.
    assert [c - start for c in calls] == [
        clock.approx(0),
        clock.approx(base),
    ]


async def test_rate_limiter_spaces_acquisitions_exactly(
    clock: VirtualClock | RealClock,
) -> None:
    rate = 4.0 if clock.virtual else 20.0
    limiter = plait.RateLimiter(rate)
    start = clock.now()
    stamps: list[float] = []

    async def take() -> None:
        async with limiter:
            stamps.append(clock.now() - start)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(take)
    interval = 1 / rate
    assert sorted(stamps) == [clock.approx(n * interval) for n in range(4)]


async def test_idle_clock_does_not_move(clock: VirtualClock | RealClock) -> None:
    if not clock.virtual:
        pytest.skip("real time always moves")
    before = clock.now()
    for _ in range(100):
        await anyio.lowlevel.checkpoint()
    assert clock.now() == before


async def test_worker_thread_runs_on_real_time(
    clock: VirtualClock | RealClock,
) -> None:
    # A thread call on anyio's default limiter holds the clock back: the
    # 10 s timeout must not fire while a 20 ms thread call runs.
    start = clock.now()
    with anyio.move_on_after(10) as scope:
        await anyio.to_thread.run_sync(time.sleep, 0.02)
    assert not scope.cancelled_caught
    # Roughly real speed: the clock counts the real time it spends waiting
    # for the thread, which on a loaded machine may miss a few milliseconds.
    assert 0.01 <= clock.now() - start <= 0.5
    if clock.virtual:
        # Once the thread is done, the clock jumps again.
        await anyio.sleep(3600)
        assert clock.now() - start == pytest.approx(3600.02, abs=0.5)


async def test_thread_the_clock_cannot_see_lets_the_timeout_fire(
    clock: VirtualClock | RealClock,
) -> None:
    if not clock.virtual:
        pytest.skip("documents a virtual-time limit")
    # A thread of our own, not anyio's: the clock jumps while we wait for it.
    done = threading.Event()
    finished = anyio.Event()
    token = anyio.lowlevel.current_token()

    def work() -> None:
        done.wait(5)
        anyio.from_thread.run_sync(finished.set, token=token)

    worker = threading.Thread(target=work)
    worker.start()
    try:
        with anyio.move_on_after(10) as scope:
            await finished.wait()
        assert scope.cancelled_caught
        assert clock.now() == clock.approx(10)
    finally:
        done.set()
        await anyio.to_thread.run_sync(worker.join)


@pytest.mark.virtual_time(autojump=False)
async def test_manual_mode_moves_only_on_advance(
    clock: VirtualClock | RealClock,
) -> None:
    if not clock.virtual:
        pytest.skip("manual mode needs virtual time")
    woke = anyio.Event()

    async def sleeper() -> None:
        await anyio.sleep(5)
        woke.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert clock.now() == 0.0
        clock.advance(4.5)
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert not woke.is_set()
        clock.advance(0.5)
        await woke.wait()
    assert clock.now() == 5.0


async def test_switching_autojump_on_resumes_jumping(
    clock: VirtualClock | RealClock,
) -> None:
    if not isinstance(clock, VirtualClock):
        pytest.skip("needs virtual time")
    clock.autojump = False
    clock.advance(2)
    clock.autojump = True
    await anyio.sleep(3)
    assert clock.now() == 5.0


async def test_real_clock_cannot_advance(clock: VirtualClock | RealClock) -> None:
    if clock.virtual:
        pytest.skip("uvloop only")
    with pytest.raises(VirtualTimeNotSupportedError, match="virtual time"):
        clock.advance(1)


def test_sync_test_gets_an_unbound_virtual_clock(clock: VirtualClock) -> None:
    assert isinstance(clock, VirtualClock)
    assert clock.backend is None

    async def main() -> float:
        await anyio.sleep(12)
        return current_clock().now()

    assert run(main, backend="trio", virtual_time=clock) == 12.0
    assert clock.now() == 12.0


class TestRun:
    pytestmark = pytest.mark.filterwarnings("error")

    @pytest.mark.parametrize("backend", ["asyncio", "trio"])
    def test_hour_of_virtual_time(self, backend: str) -> None:
        async def main(hours: int) -> float:
            await anyio.sleep(3600 * hours)
            return anyio.current_time()

        wall = time.perf_counter()
        assert run(main, 2, backend=backend) == 7200.0
        assert time.perf_counter() - wall < 1.0

    def test_uvloop_refuses_virtual_time_clearly(self) -> None:
        async def main() -> None:
            await anyio.lowlevel.checkpoint()

        with pytest.raises(
            VirtualTimeNotSupportedError, match="not supported on uvloop"
        ):
            run(main, backend="uvloop")

    def test_uvloop_runs_on_real_time(self) -> None:
        async def main() -> RealClock | VirtualClock:
            await anyio.lowlevel.checkpoint()
            return current_clock()

        assert isinstance(run(main, backend="uvloop", virtual_time=False), RealClock)

    def test_real_time_on_asyncio(self) -> None:
        async def main() -> RealClock | VirtualClock:
            return current_clock()

        assert isinstance(run(main, virtual_time=False), RealClock)

    def test_called_function_is_refused_with_the_fix(self) -> None:
        async def main() -> None:
            pass

        coro = main()
        with pytest.raises(TypeError, match=r"run\(main, 1\), not run\(main\(1\)\)"):
            run(coro)  # type: ignore[arg-type]
        # Closed, so that it does not warn that it was never awaited.
        assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED

    def test_unknown_backend(self) -> None:
        async def main() -> None:
            pass

        with pytest.raises(ValueError, match="backend must be one of"):
            run(main, backend="curio")

    def test_bad_virtual_time_argument(self) -> None:
        async def main() -> None:
            pass

        with pytest.raises(TypeError, match="virtual_time must be a bool"):
            run(main, virtual_time="yes")  # type: ignore[arg-type]

    def test_clock_continues_across_runs(self) -> None:
        clock = VirtualClock()

        async def main() -> None:
            await anyio.sleep(1.5)

        run(main, virtual_time=clock)
        run(main, virtual_time=clock)
        assert clock.now() == 3.0

    def test_clock_serves_one_backend(self) -> None:
        clock = VirtualClock()
        clock.backend_options("asyncio")
        with pytest.raises(ValueError, match="already drives 'asyncio'"):
            clock.backend_options("trio")

    def test_jump_longer_than_a_day(self) -> None:
        async def main() -> float:
            await anyio.sleep(3 * 86400 + 1)
            return anyio.current_time()

        assert run(main) == 3 * 86400 + 1


class TestClockValues:
    def test_advance_rejects_going_back(self) -> None:
        clock = VirtualClock()
        clock.backend_options("asyncio")
        with pytest.raises(ValueError, match="time can't go back"):
            clock.advance(-1)
        with pytest.raises(ValueError, match="finite"):
            clock.advance(math.inf)
        with pytest.raises(TypeError, match="seconds must be a number"):
            clock.advance("1")  # type: ignore[arg-type]

    def test_advance_before_binding_explains(self) -> None:
        with pytest.raises(RuntimeError, match="backend_options"):
            VirtualClock().advance(1)

    def test_autojump_must_be_bool(self) -> None:
        with pytest.raises(TypeError, match="autojump must be a bool"):
            VirtualClock(autojump=1)  # type: ignore[arg-type]

    def test_unknown_backend(self) -> None:
        with pytest.raises(ValueError, match="'asyncio' or 'trio'"):
            VirtualClock().backend_options("curio")

    def test_virtual_approx_is_tight(self) -> None:
        approx = VirtualClock().approx(0.3)
        assert approx == 0.1 + 0.2
        assert approx != 0.3001
        assert approx != "0.3"

    def test_real_approx_allows_lateness_not_earliness(self) -> None:
        approx = RealClock(late=0.25).approx(1.0)
        assert approx == 1.2
        assert approx != 1.3
        assert approx != 0.99
        assert "1.0" in repr(approx)

    def test_real_clock_late_is_validated(self) -> None:
        with pytest.raises(ValueError, match="late must be a number >= 0"):
            RealClock(late=-1)


@pytest.mark.parametrize("via", ["run_in_executor", "asyncio.to_thread"])
def test_asyncio_executor_threads_hold_the_clock_back(via: str) -> None:
    import asyncio

    async def main() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        with anyio.move_on_after(10) as scope:
            if via == "run_in_executor":
                await loop.run_in_executor(None, time.sleep, 0.02)
            else:
                await asyncio.to_thread(time.sleep, 0.02)
        return scope.cancelled_caught, anyio.current_time()

    cancelled, now = run(main)
    assert not cancelled
    assert 0.01 <= now <= 0.5
