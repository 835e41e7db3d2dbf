"""A job database with jobs in every state, made through the public API.

``seed(dsn)``: 10 done, 3 dead (two failed attempts each), 2 cancelled, 2
running (claimed by "test-worker" for an hour), 8 queued (3 of them due in
an hour), over the queues default, mail and slow. The admin API's and the
CLI's tests read it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

import plait
from durable_scripts.support import ENGINES, make_dsn
from plait._jobs.durable._calls import open_engine

handlers = plait.JobHandlers()


@handlers.register("ok")
async def ok(job: plait.Job) -> dict[str, int]:
    return {"n": job.payload["n"]}


@handlers.register(
    "boom", retry=plait.RetryPolicy(attempts=2, base_delay=0.001, jitter=0)
)
async def boom(job: plait.Job) -> None:
    raise ValueError(f"boom {job.payload['n']}")


@dataclasses.dataclass
class Seeded:
    """A seeded database and the ids of its jobs, by group."""

    dsn: str
    ids: dict[str, list[str]]


async def seed(dsn: str) -> dict[str, list[str]]:
    """10 done, 3 dead (two failed attempts each), 2 cancelled, 2 running,
    8 queued (3 of them due in an hour) over queues default, mail and slow."""
    ids: dict[str, list[str]] = {}
    async with plait.DurableBackend(dsn) as backend:
        ids["done"] = await backend.submit_many(
            [plait.Job("ok", {"n": n}) for n in range(10)]
        )
        ids["dead"] = await backend.submit_many(
            [plait.Job("boom", {"n": n}) for n in range(3)]
        )
        worker = plait.JobWorker(dsn, handlers, until_empty=True, poll_interval=0.02)
        with anyio.fail_after(30):
            await worker.run()
        later = time.time() + 3600
        ids["mail"] = await backend.submit_many(
            [
                plait.Job(
                    "ok",
                    {"n": n},
                    queue="mail",
                    priority=n % 2,
                    idempotency_key=f"mail-{n}",
                    not_before=later if n >= 3 else None,
                )
                for n in range(6)
            ]
        )
        other = await backend.submit_many(
            [plait.Job("ok", {"n": n}, idempotency_key=f"other-{n}") for n in range(4)]
        )
        ids["cancelled"] = other[:2]
        ids["other"] = other[2:]
        for job_id in ids["cancelled"]:
            assert await backend.cancel(job_id) == "cancelled"
        ids["running"] = await backend.submit_many(
            [plait.Job("ok", {"n": n}, queue="slow") for n in range(2)]
        )
    engine = open_engine(dsn)
    try:
        claimed = engine.exchange(
            [], [], {"slow": 2}, owner="test-worker", lease=3600, now=time.time()
        ).claimed
        assert len(claimed) == 2
    finally:
        engine.close()
    return ids


@pytest.fixture(scope="module", params=ENGINES)
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """One seeded database per engine for a test module's read-only tests."""
    for dsn in make_dsn(request.param, tmp_path_factory.mktemp("seeded")):
        yield Seeded(dsn, anyio.run(seed, dsn))


@pytest.fixture(params=ENGINES)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Seeded]:
    """A seeded database per engine of its own, for a test that changes it."""
    for dsn in make_dsn(request.param, tmp_path):
        yield Seeded(dsn, anyio.run(seed, dsn))
