"""Testing tools for concurrency code: virtual time, schedule fuzzing, probes.

Importing this package imports neither trio, hypothesis nor pytest; each is
loaded only by the helper that needs it.
"""

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
from ._probes import assert_no_leaked_tasks as assert_no_leaked_tasks
from ._run import run as run
from ._strategies import JobError as JobError
from ._strategies import JobPlan as JobPlan
from ._strategies import JobSpec as JobSpec
from ._strategies import job_plans as job_plans
from ._strategies import job_specs as job_specs

__all__ = (
    "Approx",
    "Clock",
    "ConcurrencyProbe",
    "JobError",
    "JobPlan",
    "JobSpec",
    "RealClock",
    "ScheduleFuzzer",
    "Timeline",
    "TimelineEvent",
    "VirtualClock",
    "VirtualTimeNotSupportedError",
    "assert_no_leaked_tasks",
    "current_clock",
    "fuzz_schedule",
    "fuzz_seeds",
    "job_plans",
    "job_specs",
    "run",
)

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
