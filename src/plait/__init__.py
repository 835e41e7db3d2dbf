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

from ._as_completed import as_completed as as_completed
from ._backend import current_backend as current_backend
from ._backend import run as run
from ._cancellation import is_cancelled as is_cancelled
from ._cancellation import non_cancel_subgroup as non_cancel_subgroup
from ._deadlines import checkpoint as checkpoint
from ._deadlines import effective_deadline as effective_deadline
from ._deadlines import remaining as remaining
from ._deadlines import shield as shield
from ._fuzz import fuzz_point as fuzz_point
from ._gather import gather as gather
from ._imap import imap as imap
from ._map import bounded_map as bounded_map
from ._race import race as race
from ._ratelimit import RateLimiter as RateLimiter
from ._retry import RetryPolicy as RetryPolicy
from ._retry import retry as retry

if _typing.TYPE_CHECKING:
    from ._durable import DatabaseUnavailableError as DatabaseUnavailableError
    from ._durable import DurableBackend as DurableBackend
    from ._durable import JobRecord as JobRecord
    from ._durable import JobWorker as JobWorker
    from ._durable import QueueStats as QueueStats
    from ._durable import WorkerStats as WorkerStats
    from ._inproc_backends import BackendStats as BackendStats
    from ._inproc_backends import InlineBackend as InlineBackend
    from ._inproc_backends import TrackedBackend as TrackedBackend
    from ._jobs import DrainReport as DrainReport
    from ._jobs import Job as Job
    from ._jobs import JobHandler as JobHandler
    from ._jobs import JobHandlers as JobHandlers
    from ._jobs import TaskBackend as TaskBackend
    from ._observers import LoggingObserver as LoggingObserver
    from ._observers import ServiceEvent as ServiceEvent
    from ._observers import SupervisorObserver as SupervisorObserver
    from ._otel import OpenTelemetryObserver as OpenTelemetryObserver
    from ._periodic import every as every
    from ._scheduler import PeriodicJobStats as PeriodicJobStats
    from ._scheduler import Scheduler as Scheduler
    from ._services import RestartPolicy as RestartPolicy
    from ._services import RestartStrategy as RestartStrategy
    from ._services import ServiceState as ServiceState
    from ._services import ServiceStats as ServiceStats
    from ._shutdown import ShutdownReport as ShutdownReport
    from ._signals import run_until_signal as run_until_signal
    from ._supervisor import Supervisor as Supervisor

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
    "BackendStats": "_inproc_backends",
    "DatabaseUnavailableError": "_durable",
    "DrainReport": "_jobs",
    "DurableBackend": "_durable",
    "InlineBackend": "_inproc_backends",
    "Job": "_jobs",
    "JobHandler": "_jobs",
    "JobHandlers": "_jobs",
    "JobRecord": "_durable",
    "JobWorker": "_durable",
    "LoggingObserver": "_observers",
    "OpenTelemetryObserver": "_otel",
    "PeriodicJobStats": "_scheduler",
    "QueueStats": "_durable",
    "RestartPolicy": "_services",
    "RestartStrategy": "_services",
    "Scheduler": "_scheduler",
    "ServiceEvent": "_observers",
    "ServiceState": "_services",
    "ServiceStats": "_services",
    "ShutdownReport": "_shutdown",
    "Supervisor": "_supervisor",
    "SupervisorObserver": "_observers",
    "TaskBackend": "_jobs",
    "TrackedBackend": "_inproc_backends",
    "WorkerStats": "_durable",
    "every": "_periodic",
    "run_until_signal": "_signals",
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
