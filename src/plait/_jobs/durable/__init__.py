"""Durable background jobs on SQLite and PostgreSQL (``plait.DurableBackend``).

Database drivers load only when a backend or worker connects: importing
plait imports neither ``sqlite3`` nor ``psycopg``.
"""

from ._backend import DurableBackend as DurableBackend
from ._engine import DatabaseUnavailableError as DatabaseUnavailableError
from ._engine import JobRecord as JobRecord
from ._engine import QueueStats as QueueStats
from ._outcome import WorkerStats as WorkerStats
from ._worker import JobWorker as JobWorker

__all__ = (
    "DatabaseUnavailableError",
    "DurableBackend",
    "JobRecord",
    "JobWorker",
    "QueueStats",
    "WorkerStats",
)
