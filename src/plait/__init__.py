"""plait: structured-concurrency patterns over anyio, for asyncio and trio.

The core names are anyio's own objects, re-exported unchanged; plait adds
patterns anyio lacks (limits, streaming, race, retry, rates), supervision of
long-running work, and testing tools (``plait.testing``).
"""

import importlib as _importlib
import typing as _typing

from anyio import TASK_STATUS_IGNORED as TASK_STATUS_IGNORED
from anyio import CancelScope as CancelScope
from anyio import CapacityLimiter as CapacityLimiter
from anyio import Condition as Condition
from anyio import Event as Event
from anyio import Lock as Lock
from anyio import Semaphore as Semaphore
from anyio import TaskCancelled as TaskCancelled
from anyio import TaskFailed as TaskFailed
from anyio import TaskHandle as TaskHandle
from anyio import TaskNotFinished as TaskNotFinished
from anyio import create_memory_object_stream as create_memory_object_stream
from anyio import create_task_group as create_task_group
from anyio import current_time as current_time
from anyio import fail_after as fail_after
from anyio import fail_at as fail_at
from anyio import get_cancelled_exc_class as get_cancelled_exc_class
from anyio import move_on_after as move_on_after
from anyio import move_on_at as move_on_at
from anyio import sleep as sleep
from anyio import sleep_until as sleep_until
from anyio.abc import TaskGroup as TaskGroup
from anyio.abc import TaskStatus as TaskStatus

from ._core._cancellation import is_cancelled as is_cancelled
from ._core._cancellation import non_cancel_subgroup as non_cancel_subgroup
from ._core._deadlines import checkpoint as checkpoint
from ._core._deadlines import effective_deadline as effective_deadline
from ._core._deadlines import remaining as remaining
from ._core._deadlines import shield as shield
from ._core._event_loop import current_backend as current_backend
from ._core._event_loop import run as run
from ._core._fuzz import fuzz_point as fuzz_point
from ._patterns._as_completed import as_completed as as_completed
from ._patterns._gather import gather as gather
from ._patterns._imap import imap as imap
from ._patterns._map import bounded_map as bounded_map
from ._patterns._race import race as race
from ._patterns._ratelimit import RateLimiter as RateLimiter
from ._patterns._retry import RetryPolicy as RetryPolicy
from ._patterns._retry import retry as retry

if _typing.TYPE_CHECKING:
    from ._jobs._inproc import BackendStats as BackendStats
    from ._jobs._inproc import InlineBackend as InlineBackend
    from ._jobs._inproc import TrackedBackend as TrackedBackend
    from ._jobs._model import DrainReport as DrainReport
    from ._jobs._model import Job as Job
    from ._jobs._model import JobHandler as JobHandler
    from ._jobs._model import JobHandlers as JobHandlers
    from ._jobs._model import TaskBackend as TaskBackend
    from ._jobs.durable import DatabaseUnavailableError as DatabaseUnavailableError
    from ._jobs.durable import DurableBackend as DurableBackend
    from ._jobs.durable import JobRecord as JobRecord
    from ._jobs.durable import JobWorker as JobWorker
    from ._jobs.durable import QueueStats as QueueStats
    from ._jobs.durable import WorkerStats as WorkerStats
    from ._supervision._observers import LoggingObserver as LoggingObserver
    from ._supervision._observers import ServiceEvent as ServiceEvent
    from ._supervision._observers import SupervisorObserver as SupervisorObserver
    from ._supervision._otel import OpenTelemetryObserver as OpenTelemetryObserver
    from ._supervision._periodic import every as every
    from ._supervision._scheduler import PeriodicJobStats as PeriodicJobStats
    from ._supervision._scheduler import Scheduler as Scheduler
    from ._supervision._services import RestartPolicy as RestartPolicy
    from ._supervision._services import RestartStrategy as RestartStrategy
    from ._supervision._services import ServiceState as ServiceState
    from ._supervision._services import ServiceStats as ServiceStats
    from ._supervision._shutdown import ShutdownReport as ShutdownReport
    from ._supervision._signals import run_until_signal as run_until_signal
    from ._supervision._supervisor import Supervisor as Supervisor

__version__ = "0.1.0"

# Names plait defines report `plait` as their module, as anyio's do.
for _name in (
    "RateLimiter",
    "RetryPolicy",
    "as_completed",
    "bounded_map",
    "checkpoint",
    "current_backend",
    "effective_deadline",
    "fuzz_point",
    "gather",
    "imap",
    "is_cancelled",
    "non_cancel_subgroup",
    "race",
    "remaining",
    "retry",
    "run",
    "shield",
):
    globals()[_name].__module__ = __name__
del _name

# Supervision, background jobs and the durable backend load on first use,
# so that `import plait` stays close to `import anyio` in cost.
_LAZY: dict[str, str] = {
    "BackendStats": "_jobs._inproc",
    "DatabaseUnavailableError": "_jobs.durable",
    "DrainReport": "_jobs._model",
    "DurableBackend": "_jobs.durable",
    "InlineBackend": "_jobs._inproc",
    "Job": "_jobs._model",
    "JobHandler": "_jobs._model",
    "JobHandlers": "_jobs._model",
    "JobRecord": "_jobs.durable",
    "JobWorker": "_jobs.durable",
    "LoggingObserver": "_supervision._observers",
    "OpenTelemetryObserver": "_supervision._otel",
    "PeriodicJobStats": "_supervision._scheduler",
    "QueueStats": "_jobs.durable",
    "RestartPolicy": "_supervision._services",
    "RestartStrategy": "_supervision._services",
    "Scheduler": "_supervision._scheduler",
    "ServiceEvent": "_supervision._observers",
    "ServiceState": "_supervision._services",
    "ServiceStats": "_supervision._services",
    "ShutdownReport": "_supervision._shutdown",
    "Supervisor": "_supervision._supervisor",
    "SupervisorObserver": "_supervision._observers",
    "TaskBackend": "_jobs._model",
    "TrackedBackend": "_jobs._inproc",
    "WorkerStats": "_jobs.durable",
    "every": "_supervision._periodic",
    "run_until_signal": "_supervision._signals",
}


def __getattr__(name: str) -> _typing.Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'plait' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module_name}", __name__), name)
    value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = (
    "BackendStats",
    "CancelScope",
    "CapacityLimiter",
    "Condition",
    "DatabaseUnavailableError",
    "DrainReport",
    "DurableBackend",
    "Event",
    "InlineBackend",
    "Job",
    "JobHandler",
    "JobHandlers",
    "JobRecord",
    "JobWorker",
    "Lock",
    "LoggingObserver",
    "OpenTelemetryObserver",
    "PeriodicJobStats",
    "QueueStats",
    "RateLimiter",
    "RestartPolicy",
    "RestartStrategy",
    "RetryPolicy",
    "Scheduler",
    "Semaphore",
    "ServiceEvent",
    "ServiceState",
    "ServiceStats",
    "ShutdownReport",
    "Supervisor",
    "SupervisorObserver",
    "TASK_STATUS_IGNORED",
    "TaskBackend",
    "TaskCancelled",
    "TaskFailed",
    "TaskGroup",
    "TaskHandle",
    "TaskNotFinished",
    "TaskStatus",
    "TrackedBackend",
    "WorkerStats",
    "as_completed",
    "bounded_map",
    "checkpoint",
    "create_memory_object_stream",
    "create_task_group",
    "current_backend",
    "current_time",
    "effective_deadline",
    "every",
    "fail_after",
    "fail_at",
    "fuzz_point",
    "gather",
    "get_cancelled_exc_class",
    "imap",
    "is_cancelled",
    "move_on_after",
    "move_on_at",
    "non_cancel_subgroup",
    "race",
    "remaining",
    "retry",
    "run",
    "run_until_signal",
    "shield",
    "sleep",
    "sleep_until",
)
