"""Every async test runs on asyncio, asyncio+uvloop and trio.

anyio's plugin runs in auto mode (pyproject), so async tests need no marker.

Virtual time: mark a test ``@pytest.mark.virtual_time`` or request the
``clock`` fixture (both from plait's pytest plugin). The function-scoped
``anyio_backend`` below then carries a fresh ``plait.testing.VirtualClock`` on
asyncio and trio; on uvloop the test runs on real time and ``clock`` is a
``plait.testing.RealClock`` whose ``approx()`` tolerates a loaded machine.
Schedule exploration: ``@pytest.mark.fuzz_schedule`` or the ``fuzzer`` fixture,
under ``--plait-seeds N`` seeds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, settings

import plait
from plait import testing

# Hypothesis' per-example deadline measures wall time, which a 2-core machine
# shared with other test runs makes meaningless; budgets are set per test.
# The `backend` fixture is the same for every example of a test, as meant.
settings.register_profile(
    "plait",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("plait")

# plait.testing's plugin tests run small pytest sessions of their own; the
# durable-queue tests share the seeded job databases (one per module).
pytest_plugins = ("pytester", "durable_scripts.seed")


# The one list of event loops (plait.testing's, as users get it); sync
# tests that call plait.testing.run take the same names (`backend`).
@pytest.fixture(params=testing.backends())
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return testing.anyio_backend_for(request.param)


@pytest.fixture
def backend(
    anyio_backend: tuple[str, dict[str, Any]],
) -> Literal["asyncio", "uvloop", "trio"]:
    """The event loop's name as ``plait.testing.run`` takes it, for sync tests."""
    name, options = anyio_backend
    if options.get("use_uvloop"):
        return "uvloop"
    return "trio" if name == "trio" else "asyncio"


class CancelLanding:
    """Cancel the test's task a given number of checkpoints after an event.

    On asyncio (and uvloop) with ``Task.cancel()``, which gets through
    shields and is what anyio issue #1069 is about; on trio, which has no
    such thing, by cancelling a scope around the call. Sweeping ``extra``
    lands the cancellation at each step of a pattern's way out.
    """

    fired_during_call = False
    """The cancellation was requested before the call ended."""
    still_requested = False
    """Just after the call, the cancellation was still requested: asyncio's
    ``Task.cancelling()`` above 0, or trio's scope cancelled."""

    async def outcome(
        self, call: Callable[[], Awaitable[object]], after: anyio.Event, extra: int
    ) -> BaseException | None:
        """Await *call*; return its error, cancelled *extra* steps after *after*."""
        fired = anyio.Event()
        caught: BaseException | None = None
        host: Any = None
        if plait.current_backend() != "trio":
            import asyncio

            host = asyncio.current_task()
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as scope:

                async def canceller() -> None:
                    await after.wait()
                    for _ in range(extra):
                        await anyio.lowlevel.checkpoint()
                    if host is None:
                        scope.cancel()
                    else:
                        host.cancel()
                    fired.set()

                tg.start_soon(canceller)
                try:
                    await call()
                except BaseException as exc:
                    caught = exc
                self.fired_during_call = fired.is_set()
                self.still_requested = (
                    scope.cancel_called if host is None else host.cancelling() > 0
                )
                after.set()  # the call may have ended before it got there
                try:
                    # A cancellation that came after the call is met here.
                    await fired.wait()
                    await anyio.lowlevel.checkpoint()
                except anyio.get_cancelled_exc_class():
                    pass
            if host is not None:
                while host.uncancel():
                    pass
        return caught


@pytest.fixture
def cancel_landing() -> CancelLanding:
    """Cancel the test's task at a chosen step (see ``CancelLanding``)."""
    return CancelLanding()
