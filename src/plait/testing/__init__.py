"""Testing tools for concurrency code: virtual time, schedule exploration, probes.

The same tools work on asyncio and trio:

- **Virtual time** (``run``, ``VirtualClock``, ``current_clock``): sleeps,
  timeouts, retry backoff and rate limits run on a clock that jumps to the
  next deadline whenever every task waits, so an hour passes in milliseconds
  at exact, repeatable instants. uvloop cannot have it
  (``VirtualTimeNotSupportedError``); ``RealClock`` gives timing tests the
  same API there, with tolerances for a loaded machine.
- **Schedule exploration** (``explore``, ``run(..., fuzz_seed=...)``,
  ``fuzz_schedule``, ``RandomDelay``, ``PCT``, ``schedules``): at every
  point where a task yields to the loop, a seeded strategy decides which
  task goes next, producing only schedules a loop can produce when I/O is
  slower or faster than usual; a seed replays its interleaving exactly, a
  failing schedule is shrunk to the steps that race, on asyncio and trio
  (uvloop cannot be explored: ``ExplorationNotSupportedError``).
- **Invariant helpers**: ``ConcurrencyProbe`` (peak concurrency),
  ``assert_no_leaked_tasks``, ``Timeline`` (who started, finished, failed or
  was cancelled, and when), and hypothesis strategies for jobs to run
  through any pattern (``job_specs``, ``job_plans``).
- **pytest plugin** (loaded by entry point; nothing changes until a test
  opts in): ``@pytest.mark.virtual_time`` or the ``clock`` fixture put an
  async test on virtual time; ``@pytest.mark.fuzz_schedule`` or the
  ``fuzzer`` fixture explore its schedule, once per seed of
  ``--plait-seeds N`` starting at ``--plait-seed S`` (``--plait-explore``:
  every test); ``backends()`` and ``anyio_backend_for()`` name the event
  loops a suite runs on, once.

Importing this package imports neither trio, hypothesis nor pytest; each is
loaded only by the helper that needs it.

Example:
    >>> import anyio, plait
    >>> from plait import testing
    >>> async def main() -> tuple[str, float]:
    ...     with anyio.fail_after(3600):
    ...         result = await plait.retry(
    ...             flaky, attempts=3, base_delay=60, max_delay=600, jitter=0
    ...         )
    ...     return result, testing.current_clock().now()
    >>> calls: list[int] = []
    >>> async def flaky() -> str:
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("down")
    ...     return "up"
    >>> testing.run(main, backend="trio")
    ('up', 180.0)
"""

from typing import get_origin as _get_origin

from ._backends import anyio_backend_for as anyio_backend_for
from ._backends import backends as backends
from ._clock import Approx as Approx
from ._clock import Clock as Clock
from ._clock import ExplorationNotSupportedError as ExplorationNotSupportedError
from ._clock import RealClock as RealClock
from ._clock import VirtualClock as VirtualClock
from ._clock import VirtualTimeNotSupportedError as VirtualTimeNotSupportedError
from ._clock import current_clock as current_clock
from ._explore import Exploration as Exploration
from ._explore import explore as explore
from ._fuzzer import ScheduleFuzzer as ScheduleFuzzer
from ._fuzzing import DrawnSchedule as DrawnSchedule
from ._fuzzing import fuzz_schedule as fuzz_schedule
from ._fuzzing import fuzz_seeds as fuzz_seeds
from ._fuzzing import schedules as schedules
from ._policies import PCT as PCT
from ._policies import RandomDelay as RandomDelay
from ._probes import ConcurrencyProbe as ConcurrencyProbe
from ._probes import Timeline as Timeline
from ._probes import TimelineEvent as TimelineEvent
from ._probes import TimelineEventKind as TimelineEventKind
from ._probes import assert_no_leaked_tasks as assert_no_leaked_tasks
from ._run import run as run
from ._seeding import seed_randomness as seed_randomness
from ._strategies import JobCleanupError as JobCleanupError
from ._strategies import JobError as JobError
from ._strategies import JobInterrupt as JobInterrupt
from ._strategies import JobPlan as JobPlan
from ._strategies import JobSpec as JobSpec
from ._strategies import job_plans as job_plans
from ._strategies import job_specs as job_specs
from ._trace import Deviation as Deviation
from ._trace import Schedule as Schedule
from ._trace import TraceStep as TraceStep

__all__ = (
    "Approx",
    "Clock",
    "ConcurrencyProbe",
    "Deviation",
    "DrawnSchedule",
    "Exploration",
    "ExplorationNotSupportedError",
    "JobCleanupError",
    "JobError",
    "JobInterrupt",
    "JobPlan",
    "JobSpec",
    "PCT",
    "RandomDelay",
    "RealClock",
    "Schedule",
    "ScheduleFuzzer",
    "Timeline",
    "TimelineEvent",
    "TimelineEventKind",
    "TraceStep",
    "VirtualClock",
    "VirtualTimeNotSupportedError",
    "anyio_backend_for",
    "assert_no_leaked_tasks",
    "backends",
    "current_clock",
    "explore",
    "fuzz_schedule",
    "fuzz_seeds",
    "job_plans",
    "job_specs",
    "run",
    "schedules",
    "seed_randomness",
)

for _name in __all__:
    # A type alias is typing's object, shared by every Literal spelled the same.
    if _get_origin(globals()[_name]) is None:
        globals()[_name].__module__ = __name__
del _name  # pyright: ignore[reportPossiblyUnboundVariable]
