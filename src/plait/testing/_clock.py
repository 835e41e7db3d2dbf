"""Clocks tests can read: virtual time on asyncio and trio, real time on uvloop."""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import anyio

from plait._core._event_loop import current_backend

if TYPE_CHECKING:
    from ._asyncio import AsyncioTime
    from ._trio import TrioTime

Backend = Literal["asyncio", "uvloop", "trio"]

_UVLOOP_MESSAGE = (
    "virtual time is not supported on uvloop: uvloop's event loop is written in "
    "C and has no Python-level selector or clock to replace. Run the test on "
    "'asyncio' or 'trio' for virtual time, or use real time on uvloop: in pytest, "
    "the `clock` fixture gives a RealClock there, whose `approx()` allows for a "
    "loaded machine."
)

# Exactness allowed when comparing virtual instants: sums of float delays
# round differently from the deadline arithmetic that produced them.
_VIRTUAL_TOLERANCE: Final = 1e-9


class VirtualTimeNotSupportedError(RuntimeError):
    """Raised when virtual time is asked of an event loop that cannot have it."""


class ExplorationNotSupportedError(RuntimeError):
    """Raised when schedule exploration is asked of a loop it cannot control."""


class Clock(Protocol):
    """What tests can read from a clock, virtual or real."""

    @property
    def virtual(self) -> bool:
        """``True`` when the clock jumps instead of waiting."""
        ...

    def now(self) -> float:
        """Return the event loop's current time."""
        ...

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by *seconds*."""
        ...

    def approx(self, expected: float) -> Approx:
        """Return a value equal to instants or durations close to *expected*."""
        ...


class Approx:
    """Compares equal to a number in ``[expected - early, expected + late]``."""

    __slots__ = ("early", "expected", "late")

    def __init__(self, expected: float, *, early: float, late: float) -> None:
        self.expected: float = expected
        self.early: float = early
        self.late: float = late

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bool) or not isinstance(other, int | float):
            return NotImplemented
        return self.expected - self.early <= other <= self.expected + self.late

    def __hash__(self) -> int:
        return hash((self.expected, self.early, self.late))

    def __repr__(self) -> str:
        if self.early == self.late:
            return f"{self.expected} ± {self.late:g}"
        return f"{self.expected} (-{self.early:g}/+{self.late:g})"


class VirtualClock:
    """A clock that stands still while any task can run and jumps when all wait.

    With ``autojump=True`` (the default), whenever every task is blocked the
    clock jumps straight to the next deadline (a sleep ending, a timeout
    firing), so an hour of sleeps, timeouts, retries and rate limits passes in
    milliseconds, and every instant is exact and repeatable: a task that
    sleeps 0.1 s wakes at ``now() == 0.1``, not 0.1003. With
    ``autojump=False`` time moves only when you call ``advance()``.

    Time starts at ``0.0``. On asyncio the clock drives a selector event loop
    of plait's own; on trio it is ``trio.testing.MockClock(autojump_threshold=0)``.
    uvloop cannot have virtual time (its loop is C code with no selector to
    replace): asking for it raises ``VirtualTimeNotSupportedError``.

    **Threads.** Work in a worker thread takes real time the clock cannot
    see. While a thread call the clock knows of is running, it stops
    jumping and follows real time, so a 50 ms thread call inside
    ``move_on_after(10)`` finishes long before the deadline, as it would for
    real. It knows of ``anyio.to_thread.run_sync`` calls on anyio's default
    thread limiter (on trio that includes ``trio.to_thread`` calls and DNS
    lookups) and, on asyncio, ``loop.run_in_executor`` calls (including
    ``asyncio.to_thread`` and DNS lookups). Threads it cannot see (a custom
    ``CapacityLimiter``, your own ``threading.Thread`` or executor handing
    results back with ``from_thread``) do not hold it back: if every task
    waits on one, the clock jumps to the next deadline at once, so a
    ``move_on_after(10)`` around such a wait fires immediately, 10 virtual
    seconds having passed in no real time. Use the default limiter, or real
    time, for tests of such thread code.

    Use one of these per test run: ``plait.testing.run`` and the pytest
    ``clock`` fixture each make a fresh one.

    Example:
        >>> import anyio
        >>> from plait.testing import VirtualClock
        >>> clock = VirtualClock()
        >>> async def main() -> float:
        ...     await anyio.sleep(3600)
        ...     return clock.now()
        >>> anyio.run(main, backend_options=clock.backend_options("asyncio"))
        3600.0
    """

    virtual: Final = True

    def __init__(self, *, autojump: bool = True) -> None:
        if not isinstance(autojump, bool):
            raise TypeError(f"autojump must be a bool, got {autojump!r}")
        self._autojump = autojump
        self._backend: Literal["asyncio", "trio"] | None = None
        self._asyncio: AsyncioTime | None = None
        self._trio: TrioTime | None = None

    def __repr__(self) -> str:
        mode = "autojump" if self._autojump else "manual"
        return f"<VirtualClock {mode} now={self.now()!r} backend={self._backend}>"

    @property
    def autojump(self) -> bool:
        """Whether the clock jumps by itself when all tasks wait (settable)."""
        return self._autojump

    @autojump.setter
    def autojump(self, autojump: bool) -> None:
        if not isinstance(autojump, bool):
            raise TypeError(f"autojump must be a bool, got {autojump!r}")
        self._autojump = autojump
        if self._asyncio is not None:
            self._asyncio.autojump = autojump
        if self._trio is not None:
            self._trio.set_autojump(autojump)

    @property
    def backend(self) -> Literal["asyncio", "trio"] | None:
        """The backend this clock is bound to, once ``backend_options`` ran."""
        return self._backend

    def backend_options(self, backend: str) -> dict[str, Any]:
        """Return anyio ``backend_options`` that run a loop on this clock.

        Args:
            backend: ``'asyncio'`` or ``'trio'``. A clock serves one backend;
                binding it to the other raises ``ValueError``.

        Raises:
            VirtualTimeNotSupportedError: for ``'uvloop'``.
        """
        if backend == "uvloop":
            raise VirtualTimeNotSupportedError(_UVLOOP_MESSAGE)
        if backend not in ("asyncio", "trio"):
            raise ValueError(
                f"backend must be 'asyncio' or 'trio' for virtual time, got {backend!r}"
            )
        if self._backend is not None and self._backend != backend:
            raise ValueError(
                f"this VirtualClock already drives {self._backend!r}; make a new "
                f"VirtualClock() for {backend!r}"
            )
        if backend == "asyncio":
            from ._asyncio import AsyncioTime, VirtualTimeEventLoop

            self._backend = "asyncio"
            if self._asyncio is None:
                self._asyncio = AsyncioTime(autojump=self._autojump)
            source = self._asyncio

            def loop_factory() -> VirtualTimeEventLoop:
                return VirtualTimeEventLoop(source, self)

            return {"loop_factory": loop_factory}
        from ._trio import TrioTime

        self._backend = "trio"
        if self._trio is None:
            self._trio = TrioTime(autojump=self._autojump)
            _trio_owners[self._trio.mock] = self
        return self._trio.options()

    def now(self) -> float:
        """Return the virtual time: ``0.0`` until the clock first moves."""
        if self._trio is not None:
            return self._trio.now()
        if self._asyncio is not None:
            return self._asyncio.now
        return 0.0

    def advance(self, seconds: float) -> None:
        """Move the clock forward by *seconds* (sleepers due by then wake).

        Works in both modes; in manual mode it is the only way time moves.
        Tasks whose deadlines pass run at their next chance (after your
        next checkpoint).

        Raises:
            ValueError: if *seconds* is negative or not finite.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise TypeError(f"seconds must be a number, got {seconds!r}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(
                f"seconds must be a finite number >= 0 (time can't go back), "
                f"got {seconds!r}"
            )
        if self._trio is not None:
            self._trio.advance(seconds)
        elif self._asyncio is not None:
            self._asyncio.now += seconds
        else:
            raise RuntimeError(
                "advance() needs the clock to drive a run: pass "
                "clock.backend_options(...) to anyio.run, or use plait.testing.run"
            )

    def approx(self, expected: float) -> Approx:
        """Return a value equal to *expected* up to float rounding (1e-9 s).

        Example:
            >>> from plait.testing import VirtualClock
            >>> VirtualClock().approx(0.3) == 0.1 + 0.2
            True
        """
        return Approx(expected, early=_VIRTUAL_TOLERANCE, late=_VIRTUAL_TOLERANCE)


_trio_owners: weakref.WeakKeyDictionary[object, VirtualClock] = (
    weakref.WeakKeyDictionary()
)


class RealClock:
    """The event loop's own clock, with the ``Clock`` API and loose tolerances.

    Timing tests use it where virtual time is impossible (uvloop) so that no
    backend drops out of the suite. ``approx(d)`` accepts anything from ``d``
    (less 2 ms: uvloop rounds timers to whole milliseconds, so one may fire
    up to a millisecond early) to ``d + late``: a loaded machine may run
    timers late. Keep real-time
    durations short (tenths of a second) and assert on gaps, not on absolute
    instants.

    Args:
        late: how late an event may be and still count as on time, in
            seconds. Default 0.5, which survives a busy 2-core machine.

    Example:
        >>> import anyio
        >>> from plait.testing import RealClock
        >>> async def main() -> bool:
        ...     clock = RealClock()
        ...     start = clock.now()
        ...     await anyio.sleep(0.01)
        ...     return clock.now() - start == clock.approx(0.01)
        >>> anyio.run(main)
        True
    """

    virtual: Final = False

    def __init__(self, *, late: float = 0.5) -> None:
        if isinstance(late, bool) or not isinstance(late, int | float) or late < 0:
            raise ValueError(f"late must be a number >= 0, got {late!r}")
        self.late: float = float(late)

    def __repr__(self) -> str:
        return f"<RealClock late={self.late}>"

    def now(self) -> float:
        """Return the running event loop's time (``anyio.current_time()``)."""
        return anyio.current_time()

    def advance(self, seconds: float) -> None:
        """Raise: real time cannot be advanced; the message shows the fix."""
        raise VirtualTimeNotSupportedError(
            f"cannot advance a real clock by {seconds!r}s; advance() needs virtual "
            "time (plait.testing.run(..., virtual_time=True) or "
            "@pytest.mark.virtual_time on asyncio or trio)"
        )

    def approx(self, expected: float) -> Approx:
        """Return a value equal to durations from *expected* to *expected + late*."""
        return Approx(expected, early=2e-3, late=self.late)


def current_clock() -> VirtualClock | RealClock:
    """Return the clock of the running event loop.

    The ``VirtualClock`` driving this run, or a ``RealClock`` when the loop
    runs on real time (including uvloop).

    Raises:
        RuntimeError: outside a running event loop.

    Example:
        >>> import anyio
        >>> from plait import testing
        >>> async def main() -> float:
        ...     await anyio.sleep(90)
        ...     return testing.current_clock().now()
        >>> testing.run(main, backend="asyncio", virtual_time=True)
        90.0
    """
    if current_backend() == "trio":
        from ._trio import running_mock_clock

        owner = _trio_owners.get(running_mock_clock())
    else:
        from ._asyncio import running_loop_clock

        found = running_loop_clock()
        owner = found if isinstance(found, VirtualClock) else None
    return owner if owner is not None else RealClock()
