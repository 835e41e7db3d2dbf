"""A job database in known states, made by real workers through the public API."""

from __future__ import annotations

import dataclasses
import time

import plait

from .apps import XSS_ATTR, XSS_SCRIPT, XSS_TYPE, handlers
from .support import run_in_thread


@dataclasses.dataclass(frozen=True)
class Scenario:
    """What the database holds: ids by role."""

    done: tuple[str, ...]
    dead: str
    xss: str
    future: tuple[str, ...]


def fill(dsn: str) -> Scenario:
    """Run jobs into done and dead with a worker in this process (which also
    stores the handlers' schedules and enqueues their current ticks); leave
    three in the ``reports`` queue due an hour from now (queued, for
    cancelling)."""
    return run_in_thread(_fill, dsn)


async def _fill(dsn: str) -> Scenario:
    async with plait.DurableBackend(
        dsn, handlers=handlers, poll_interval=0.05
    ) as backend:
        done = await backend.submit_many(
            [
                plait.Job(
                    "email.send",
                    {"to": f"user{n}@example.org", "template": "welcome"},
                    queue="mail",
                    idempotency_key=f"welcome-user{n}",
                )
                for n in range(12)
            ]
            + [plait.Job("report.build", {"rows": [1, 2, 3]}, queue="reports")] * 4
        )
        dead = await backend.submit(
            plait.Job(
                "email.send",
                {"to": "ada@example.org", "mailbox": "full"},
                queue="mail",
                idempotency_key="welcome-ada",
            )
        )
        xss = await backend.submit(
            plait.Job(
                XSS_TYPE,
                {"html": XSS_SCRIPT, "attr": XSS_ATTR},
                idempotency_key=f"probe-{XSS_ATTR}",
            )
        )
        for job_id in [*done, dead, xss]:
            await backend.wait(job_id, timeout=60)
        future = await backend.submit_many(
            [
                plait.Job(
                    "report.build",
                    {"rows": [], "day": day},
                    queue="reports",
                    not_before=time.time() + 3600,
                    idempotency_key=f"nightly-{day}",
                )
                for day in ("mon", "tue", "wed")
            ]
        )
    return Scenario(tuple(done), dead, xss, tuple(future))
