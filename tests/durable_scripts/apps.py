"""Handlers the worker processes in the durable-job tests run (``--app``)."""

from __future__ import annotations

import os

import anyio

import plait

handlers = plait.JobHandlers()

FLAKY_ATTEMPTS = 3


@handlers.register("noop")
async def noop(job: plait.Job) -> None:
    return None


@handlers.register(
    "flaky", retry=plait.RetryPolicy(attempts=FLAKY_ATTEMPTS, base_delay=0.01)
)
async def flaky(job: plait.Job) -> int:
    """Fail while ``job.attempt <= payload["fail"]``, then return the attempt."""
    if job.attempt <= job.payload["fail"]:
        raise RuntimeError(f"planned failure {job.attempt} of job {job.id}")
    return job.attempt


@handlers.register("once-blocks", retry=plait.RetryPolicy(attempts=1))
async def once_blocks(job: plait.Job) -> int:
    """The first run marks a file and blocks for ever; later runs finish.

    The mark is written beside and renamed into place, so a watcher that
    sees the file also sees the pid in it.
    """
    marker = anyio.Path(job.payload["marker"])
    if not await marker.exists():
        draft = marker.with_name(marker.name + ".draft")
        await draft.write_text(str(os.getpid()))
        await draft.rename(marker)
        await anyio.sleep_forever()
    return os.getpid()


@handlers.register("sleep")
async def sleep(job: plait.Job) -> float:
    """Mark that it started, then sleep ``payload["seconds"]``."""
    await anyio.Path(job.payload["marker_dir"], f"started-{job.id}").touch()
    await anyio.sleep(job.payload["seconds"])
    return float(job.payload["seconds"])
