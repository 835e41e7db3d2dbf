"""Every async test runs on asyncio, asyncio+uvloop and trio.

anyio's plugin runs in auto mode (pyproject), so async tests need no marker.

Virtual time: mark a test ``@pytest.mark.virtual_time`` or request the
``clock`` fixture (both from plait's pytest plugin). The function-scoped
``anyio_backend`` below then carries a fresh ``plait.testing.VirtualClock`` on
asyncio and trio; on uvloop the test runs on real time and ``clock`` is a
``plait.testing.RealClock`` whose ``approx()`` tolerates a loaded machine.
Schedule fuzzing: ``@pytest.mark.fuzz_schedule`` or the ``fuzzer`` fixture,
under ``--plait-seeds N`` seeds.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings

from plait import testing

# tests/jobs.py holds shared checks; rewrite its asserts as pytest does tests.
pytest.register_assert_rewrite("jobs")

# Hypothesis' per-example deadline measures wall time, which a 2-core machine
# shared with other test runs makes meaningless; budgets are set per test.
settings.register_profile("plait", deadline=None)
settings.load_profile("plait")

# plait.testing's plugin tests run small pytest sessions of their own.
pytest_plugins = ("pytester",)


# The one list of event loops (plait.testing's, as users get it); tests
# that call plait.testing.run take the same names (tests/jobs.py).
@pytest.fixture(params=testing.backends())
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return testing.anyio_backend_for(request.param)
