"""plait: structured-concurrency patterns over anyio, for asyncio and trio.

The core names are anyio's own objects, re-exported unchanged; plait adds
patterns anyio lacks (limits, streaming, race, retry, rates), supervision of
long-running work, and testing tools (``plait.testing``).
"""

from typing import TYPE_CHECKING

from ._lazyimport import install_lazy_importer

# The one list of public names. Type checkers read it as it stands; at run
# time `install_lazy_importer` reads it from this file and loads each name on
# first use (supervision and jobs load nothing until touched), sets the
# `__module__` of names plait defines to `plait`, and derives `__all__`.
if TYPE_CHECKING or not install_lazy_importer():
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

    from ._core._awaitables import AwaitableOrFn as AwaitableOrFn
    from ._core._cancellation import is_cancelled as is_cancelled
    from ._core._cancellation import non_cancel_subgroup as non_cancel_subgroup
    from ._core._deadlines import checkpoint as checkpoint
    from ._core._deadlines import effective_deadline as effective_deadline
    from ._core._deadlines import remaining as remaining
    from ._core._deadlines import shield as shield
    from ._core._event_loop import EventLoopName as EventLoopName
    from ._core._event_loop import current_backend as current_backend
    from ._core._event_loop import run as run
    from ._core._fuzz import fuzz_point as fuzz_point
    from ._core._observers import ItemEvent as ItemEvent
    from ._core._observers import Observer as Observer
    from ._jobs._counting import BackendStats as BackendStats
    from ._jobs._inproc import InlineBackend as InlineBackend
    from ._jobs._inproc import TrackedBackend as TrackedBackend
    from ._jobs._model import DrainReport as DrainReport
    from ._jobs._model import Job as Job
    from ._jobs._model import JobHandler as JobHandler
    from ._jobs._model import JobHandlerFn as JobHandlerFn
    from ._jobs._model import JobHandlers as JobHandlers
    from ._jobs._model import TaskBackend as TaskBackend
    from ._jobs.durable import DatabaseUnavailableError as DatabaseUnavailableError
    from ._jobs.durable import DurableBackend as DurableBackend
    from ._jobs.durable import JobDetail as JobDetail
    from ._jobs.durable import JobPage as JobPage
    from ._jobs.durable import JobRecord as JobRecord
    from ._jobs.durable import JobSummary as JobSummary
    from ._jobs.durable import JobWorker as JobWorker
    from ._jobs.durable import QueueOverview as QueueOverview
    from ._jobs.durable import QueueStats as QueueStats
    from ._jobs.durable import SchemaVersionError as SchemaVersionError
    from ._jobs.durable import ThroughputBucket as ThroughputBucket
    from ._jobs.durable import WorkerStats as WorkerStats
    from ._jobs.durable._rows import JobState as JobState
    from ._observe._frames import TaskFrame as TaskFrame
    from ._observe._monitor import TaskMonitor as TaskMonitor
    from ._observe._progress import RichObserver as RichObserver
    from ._observe._progress import TqdmObserver as TqdmObserver
    from ._observe._tree import TaskNode as TaskNode
    from ._observe._tree import TaskTree as TaskTree
    from ._observe._tree import task_tree as task_tree
    from ._patterns._as_completed import as_completed as as_completed
    from ._patterns._gather import gather as gather
    from ._patterns._imap import imap as imap
    from ._patterns._map import bounded_map as bounded_map
    from ._patterns._race import race as race
    from ._patterns._ratelimit import RateLimiter as RateLimiter
    from ._patterns._retry import RetryOn as RetryOn
    from ._patterns._retry import RetryPolicy as RetryPolicy
    from ._patterns._retry import retry as retry
    from ._supervision._observers import LoggingObserver as LoggingObserver
    from ._supervision._observers import ServiceEvent as ServiceEvent
    from ._supervision._observers import SupervisorObserver as SupervisorObserver
    from ._supervision._otel import OpenTelemetryObserver as OpenTelemetryObserver
    from ._supervision._periodic import MissedTickPolicy as MissedTickPolicy
    from ._supervision._periodic import PeriodicErrorPolicy as PeriodicErrorPolicy
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
