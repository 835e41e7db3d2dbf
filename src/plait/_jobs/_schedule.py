"""Schedules: jobs enqueued by the clock, every N seconds or by a cron expression.

A schedule's ticks are a pure function of its definition, so every worker
computes the same ones: an interval schedule ticks at whole multiples of
``every`` seconds since the UNIX epoch; a cron schedule at the times its
expression names in its timezone (through ``cronsim``, the optional ``cron``
extra, imported only when a cron schedule is declared). A durable backend
enqueues each tick once, keyed by the tick.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from .._core._checks import (
    check_choice,
    check_int,
    check_positive_int,
    check_seconds,
    fail,
)

Missed = Literal["skip", "catch_up"]


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """A job enqueued by the clock: every ``every`` seconds or by ``cron``.

    Declare it with the handlers (``JobHandlers.schedule``); every worker
    serving those handlers keeps it, and each tick is enqueued exactly once
    however many workers run or restart.

    Attributes:
        name: unique among schedules (default: the job type).
        type: the job type it enqueues.
        every: seconds between ticks (ticks fall on whole multiples of it
            since the UNIX epoch, in UTC), or ``None`` for a cron schedule.
        cron: a five-field cron expression (``"0 6 * * mon-fri"``), read in
            ``timezone``, or ``None``. Needs the ``plait[cron]`` extra.
        timezone: an IANA name for ``cron`` (``"Europe/Paris"``); daylight
            saving is honoured (a skipped hour's tick runs at the next valid
            time, a repeated hour's once).
        payload: the JSON payload of each job.
        queue: its queue (``None``: the handler's queue, else ``"default"``).
        priority: the jobs' priority.
        missed: what to do with ticks that passed while no worker ran:
            ``"skip"`` enqueues only the latest of them; ``"catch_up"``
            enqueues each, up to ``max_catch_up`` (the latest ones).
        max_catch_up: the most missed ticks enqueued at once.

    Example:
        >>> import plait
        >>> handlers = plait.JobHandlers()
        >>> schedule = handlers.schedule("report.hourly", every=3600)
        >>> schedule.name, schedule.next_after(7200.5)
        ('report.hourly', 10800.0)
    """

    name: str
    type: str
    every: float | None = None
    cron: str | None = None
    timezone: str = "UTC"
    payload: Mapping[str, Any] = dataclasses.field(default_factory=dict[str, Any])
    queue: str | None = None
    priority: int = 0
    missed: Missed = "skip"
    max_catch_up: int = 10

    def __post_init__(self) -> None:
        call = "Schedule()"
        if (self.every is None) == (self.cron is None):
            fail(
                call,
                "every/cron",
                "exactly one of the two",
                (self.every, self.cron),
                error=ValueError,
            )
        if self.every is not None:
            check_seconds(call, "every", self.every, positive=True)
        zone(call, self.timezone)
        if self.cron is not None:
            if not isinstance(self.cron, str):
                fail(
                    call, "cron", "a cron expression (str)", self.cron, error=TypeError
                )
            _cron_ticks(self.cron, self.timezone, 0.0, call=call)
        check_int(call, "priority", self.priority, minimum=-(2**31), maximum=2**31 - 1)
        check_choice(call, "missed", self.missed, ("skip", "catch_up"))
        check_positive_int(call, "max_catch_up", self.max_catch_up)

    def next_after(self, t: float) -> float:
        """Return the first tick strictly after UNIX time *t*."""
        if self.every is not None:
            return float((math.floor(t / self.every) + 1) * self.every)
        assert self.cron is not None
        return next(_cron_ticks(self.cron, self.timezone, t))

    def due(self, first: float, now: float) -> tuple[list[float], int]:
        """The ticks from *first* to *now* to enqueue (oldest first) under the
        missed-tick policy, and how many of them it skips."""
        keep = 1 if self.missed == "skip" else self.max_catch_up
        if first > now:
            return [], 0
        ticks: list[float]
        if self.every is not None:
            last = float(math.floor(now / self.every) * self.every)
            count = round((last - first) / self.every) + 1
            ticks = [last - k * self.every for k in range(min(keep, count))]
        else:
            assert self.cron is not None
            ticks = []
            for tick in _cron_ticks(self.cron, self.timezone, now, reverse=True):
                if tick < first or len(ticks) == keep:
                    break
                ticks.append(tick)
            count = len(ticks)
            if len(ticks) == keep:
                count = _count_ticks(self, first, now)
        return sorted(ticks), count - len(ticks)


def _count_ticks(
    schedule: Schedule, first: float, now: float, cap: int = 100_000
) -> int:
    """How many cron ticks fall in [first, now] (counted up to *cap*)."""
    assert schedule.cron is not None
    count = 1
    for tick in _cron_ticks(schedule.cron, schedule.timezone, first):
        if tick > now or count >= cap:
            break
        count += 1
    return count


def zone(call: str, name: object) -> datetime.tzinfo:
    """Return the timezone *name* (an IANA name), or fail naming *call*."""
    import zoneinfo

    if not isinstance(name, str) or not name:
        fail(
            call,
            "timezone",
            "an IANA timezone name such as 'UTC'",
            name,
            error=TypeError,
        )
    if name == "UTC":
        return datetime.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        fail(
            call,
            "timezone",
            "an IANA timezone name such as 'Europe/Paris'",
            name,
            error=ValueError,
        )


def _cron_ticks(
    expr: str,
    timezone: str,
    after: float,
    *,
    reverse: bool = False,
    call: str = "Schedule()",
) -> Iterator[float]:
    """UNIX times of *expr*'s ticks strictly after (or, *reverse*, at or
    before) *after*."""
    try:
        from cronsim import CronSim, CronSimError
    except ImportError:
        raise ImportError(
            "cron schedules need cronsim: pip install 'plait[cron]'"
        ) from None
    tz = zone(call, timezone)
    start = datetime.datetime.fromtimestamp(after, tz)
    if reverse:
        start += datetime.timedelta(microseconds=1)
    try:
        ticks = CronSim(expr, start, reverse=reverse)
    except CronSimError as exc:
        fail(call, "cron", f"a valid cron expression ({exc})", expr, error=ValueError)
    return (tick.timestamp() for tick in ticks)
