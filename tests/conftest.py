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

from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, settings

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
