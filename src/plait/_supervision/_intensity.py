"""Restart intensity and backoff: when a supervisor restarts, and when it gives up."""

from __future__ import annotations

import collections
import math

from .._core._checks import check_fraction, check_int, check_seconds
from .._patterns._retry import RetryPolicy


class RestartBudget:
    """Counts restarts in a sliding window and spaces them out.

    At most *max_restarts* restarts may fall within any *period* seconds;
    the one beyond makes the supervisor give up. The delay before restart
    *n* of a service in a row (a row ends when the service stays up longer
    than *period*) is ``min(max_backoff, backoff * 2 ** (n - 1))``,
    shortened by up to *jitter* of itself at random, drawn from plait's
    seedable random source.
    """

    def __init__(
        self,
        *,
        max_restarts: int,
        period: float,
        backoff: float,
        max_backoff: float,
        jitter: float,
    ) -> None:
        call = "Supervisor()"
        check_int(call, "max_restarts", max_restarts, minimum=0)
        check_seconds(call, "period", period, finite=False)
        check_seconds(call, "backoff", backoff)
        check_seconds(call, "max_backoff", max_backoff)
        check_fraction(call, "jitter", jitter)
        self.max_restarts, self.period = max_restarts, period
        self.policy = RetryPolicy(
            base_delay=backoff,
            max_delay=max(backoff, max_backoff),
            multiplier=2.0,
            jitter=jitter,
        )
        self._window: collections.deque[tuple[float, Exception]] = collections.deque()
        # Per service: restarts in the current row, and when the last one was.
        self._rows: dict[str, tuple[int, float]] = {}

    def record(
        self, service: str, error: BaseException | None, now: float
    ) -> list[Exception] | None:
        """Count a restart of *service* at *now*; return the causes if over budget.

        *error* is what ended the run (``None`` if it returned).
        """
        cause = error if isinstance(error, Exception) else None
        if cause is None:
            cause = RuntimeError(
                f"permanent service {service!r} returned; permanent services "
                f"are restarted whenever they end"
            )
        window = self._window
        window.append((now, cause))
        while window and window[0][0] < now - self.period:
            window.popleft()
        if len(window) > self.max_restarts:
            return [c for _, c in window]
        return None

    def delay(self, service: str, now: float) -> float:
        """Return the backoff before restarting *service*, counting the row."""
        step, last = self._rows.get(service, (0, -math.inf))
        step = 1 if now - last > self.period else step + 1
        self._rows[service] = (step, now)
        return self.policy.delay(step)
