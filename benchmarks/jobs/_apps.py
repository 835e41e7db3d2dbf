"""The jobs the queues run: plait's handlers and procrastinate's app."""

from __future__ import annotations

import os
import time
from typing import Any

import plait

handlers = plait.JobHandlers()


@handlers.register("noop")
async def noop(job: plait.Job) -> None:
    return None


@handlers.register("stamp")
async def stamp(job: plait.Job) -> float:
    """Return when the handler started, for submit-to-start latency."""
    return time.time()


def make_procrastinate_app() -> Any:
    """Build procrastinate's app on $PLAIT_BENCH_PROCRASTINATE_DSN."""
    try:
        import procrastinate
    except ImportError:
        return None
    dsn = os.environ.get("PLAIT_BENCH_PROCRASTINATE_DSN", "")
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=dsn),
    )

    @app.task(name="noop")
    async def noop_task(i: int) -> None:
        return None

    return app


app = make_procrastinate_app()
