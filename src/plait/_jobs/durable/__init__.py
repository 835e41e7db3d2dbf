"""Durable background jobs on SQLite and PostgreSQL (``plait.DurableBackend``).

Database drivers load only when a backend or worker connects: importing
plait imports neither ``sqlite3`` nor ``psycopg``.
"""

from ._backend import DurableBackend as DurableBackend
from ._engine import DatabaseUnavailableError as DatabaseUnavailableError
from ._engine import SchemaVersionError as SchemaVersionError
from ._job_views import JobDetail as JobDetail
from ._job_views import JobPage as JobPage
from ._job_views import JobSummary as JobSummary
from ._outcome import WorkerStats as WorkerStats
from ._overview import QueueOverview as QueueOverview
from ._overview import ThroughputBucket as ThroughputBucket
from ._rows import AttemptRecord as AttemptRecord
from ._rows import JobRecord as JobRecord
from ._rows import QueueStats as QueueStats
from ._rows import ScheduleRecord as ScheduleRecord
from ._rows import WorkerRecord as WorkerRecord
from ._worker import JobWorker as JobWorker

__all__ = (
    "AttemptRecord",
    "DatabaseUnavailableError",
    "DurableBackend",
    "JobDetail",
    "JobPage",
    "JobRecord",
    "JobSummary",
    "JobWorker",
    "QueueOverview",
    "QueueStats",
    "ScheduleRecord",
    "SchemaVersionError",
    "ThroughputBucket",
    "WorkerRecord",
    "WorkerStats",
)
