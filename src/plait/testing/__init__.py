"""Testing tools for concurrency code: virtual time, schedule fuzzing, probes.

The same tools work on asyncio and trio:

- **Virtual time** (``run``, ``VirtualClock``, ``current_clock``): sleeps,
  timeouts, retry backoff and rate limits run on a clock that jumps to the
  next deadline whenever every task waits, so an hour passes in milliseconds
  at exact, repeatable instants. uvloop cannot have it
  (``VirtualTimeNotSupportedError``); ``RealClock`` gives timing tests the
  same API there, with tolerances for a loaded machine.
- **Schedule fuzzing** (``fuzz_schedule``, ``fuzz_seeds``): seeded extra task
  switches at plait's hand-off points and at ``plait.fuzz_point()``, which
  find check-then-act races that a FIFO scheduler hides; a seed replays its
  interleaving exactly, on trio too.
- **Invariant helpers**: ``ConcurrencyProbe`` (peak concurrency),
  ``assert_no_leaked_tasks``, ``Timeline`` (who started, finished, failed or
  was cancelled, and when), and hypothesis strategies for jobs to run
  through any pattern (``job_specs``, ``job_plans``).
- **pytest plugin** (loaded by entry point; nothing changes until a test
  opts in): ``@pytest.mark.virtual_time`` or the ``clock`` fixture put an
  async test on virtual time; ``@pytest.mark.fuzz_schedule`` or the
  ``fuzzer`` fixture run it under fuzzing, once per seed of
  ``--plait-seeds N`` starting at ``--plait-seed S``.

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

from ._clock import Approx as Approx
from ._clock import Clock as Clock
from ._clock import RealClock as RealClock
from ._clock import VirtualClock as VirtualClock
from ._clock import VirtualTimeNotSupportedError as VirtualTimeNotSupportedError
from ._clock import current_clock as current_clock
from ._fuzzing import ScheduleFuzzer as ScheduleFuzzer
from ._fuzzing import fuzz_schedule as fuzz_schedule
from ._fuzzing import fuzz_seeds as fuzz_seeds
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

__all__ = (
    "Approx",
    "Clock",
    "ConcurrencyProbe",
    "JobCleanupError",
    "JobError",
    "JobInterrupt",
    "JobPlan",
    "JobSpec",
    "RealClock",
    "ScheduleFuzzer",
    "Timeline",
    "TimelineEvent",
    "TimelineEventKind",
    "VirtualClock",
    "VirtualTimeNotSupportedError",
    "assert_no_leaked_tasks",
    "current_clock",
    "fuzz_schedule",
    "fuzz_seeds",
    "job_plans",
    "job_specs",
    "run",
    "seed_randomness",
)

for _name in __all__:
    # A type alias is typing's object, shared by every Literal spelled the same.
    if _get_origin(globals()[_name]) is None:
        globals()[_name].__module__ = __name__
del _name  # pyright: ignore[reportPossiblyUnboundVariable]
