"""``RateLimiter``: a fair token bucket on the event loop's clock."""

from __future__ import annotations

import math
from types import TracebackType

from anyio import Event, current_time, sleep_until

from .._core._checks import check_number, check_positive_int, check_seconds, fail
from .._core._fuzz import current_fuzz_hook


class RateLimiter:
    """Let at most ``rate`` acquisitions through per ``per`` seconds.

    A token bucket holding ``burst`` tokens, refilled one every
    ``per / rate`` seconds. Waiters are served in arrival order: each
    acquisition reserves the next free slot when it arrives, so none can be
    overtaken. With the default ``burst=1`` acquisitions are evenly spaced;
    a larger burst lets that many through at once after an idle spell.

    A waiter cancelled before its slot gives the slot back if nobody queued
    behind it. Time is the event loop's clock, so virtual time in tests
    makes spacing exact.

    Args:
        rate: acquisitions allowed per ``per`` seconds (> 0).
        per: the period in seconds (> 0). Default 1.0.
        burst: how many may pass at once after an idle spell (int >= 1).

    Example:
        On virtual time (``plait.testing``) the spacing is exact:

        >>> import anyio, plait, plait.testing
        >>> async def main() -> list[float]:
        ...     limiter = plait.RateLimiter(10)  # one every 0.1 s
        ...     start = anyio.current_time()
        ...     stamps = []
        ...     for _ in range(3):
        ...         async with limiter:
        ...             stamps.append(round(anyio.current_time() - start, 6))
        ...     return stamps
        >>> plait.testing.run(main)
        [0.0, 0.1, 0.2]
    """

    __slots__ = ("_burst", "_interval", "_last", "_per", "_rate", "_tat", "_tolerance")

    def __init__(self, rate: float, per: float = 1.0, burst: int = 1) -> None:
        check_number("RateLimiter()", "rate", rate, positive=True)
        check_seconds("RateLimiter()", "per", per, positive=True)
        check_positive_int("RateLimiter()", "burst", burst)
        self._rate = float(rate)
        self._per = float(per)
        self._burst = burst
        self._interval = self._per / self._rate
        self._tolerance = (burst - 1) * self._interval
        # The "theoretical arrival time" of the generic cell rate algorithm:
        # when the bucket would next be full again.
        self._tat = -math.inf
        self._last: _Turn | None = None

    @property
    def rate(self) -> float:
        """Acquisitions allowed per ``per`` seconds."""
        return self._rate

    @property
    def per(self) -> float:
        """The period, in seconds."""
        return self._per

    @property
    def burst(self) -> int:
        """How many acquisitions may pass at once after an idle spell."""
        return self._burst

    async def acquire(self) -> None:
        """Wait for this caller's slot (always a checkpoint)."""
        now = current_time()
        tat = max(self._tat, now)
        start = tat - self._tolerance
        reserved = tat + self._interval
        self._tat = reserved
        # Slots are reserved in arrival order; the chain of turns keeps the
        # returns in that order too, even when several timers expire at once
        # (trio runs a batch of woken tasks in random order).
        ahead = self._last
        turn = self._last = _Turn(ahead)
        try:
            fuzz = current_fuzz_hook()
            if fuzz is not None:
                await fuzz("rate_wait")
            await sleep_until(start)
            while ahead is not None:
                if not ahead.done.is_set():
                    await ahead.done.wait()
                # One that gave up its turn hands on its own place in line,
                # so the waiter behind it still returns after the one before.
                ahead = ahead.ahead if ahead.abandoned else None
        except BaseException:
            turn.abandoned = True
            if start > current_time() and self._tat == reserved:
                self._tat = tat  # nobody queued behind us: give the slot back
            raise
        finally:
            if not turn.abandoned:
                turn.ahead = None  # served: the line before it is no longer needed
            turn.done.set()
            if self._last is turn:
                self._last = None

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def __repr__(self) -> str:
        return (
            f"RateLimiter(rate={self._rate:g}, per={self._per:g}, burst={self._burst})"
        )


class _Turn:
    """One waiter's place in a RateLimiter's line."""

    __slots__ = ("abandoned", "ahead", "done")

    def __init__(self, ahead: _Turn | None) -> None:
        self.ahead = ahead  # the waiter before this one, while it matters
        self.done = Event()  # set when this waiter returns or gives up
        self.abandoned = False  # it gave up (was cancelled) before its turn


def check_rate(call: str, rate: object) -> RateLimiter | None:
    """Return a RateLimiter for *rate* (calls per second, or a limiter)."""
    if rate is None or isinstance(rate, RateLimiter):
        return rate
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        fail(call, "rate", "calls per second or a RateLimiter", rate, error=TypeError)
    return RateLimiter(check_number(call, "rate", rate, positive=True, unit="a number"))
