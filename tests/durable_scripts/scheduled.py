"""Handlers with a schedule, for the schedule tests' worker processes."""

from __future__ import annotations

import os

import plait

TICK = float(os.environ.get("PLAIT_TEST_TICK", "0.25"))

handlers = plait.JobHandlers()
handlers.schedule("tick", every=TICK, missed="catch_up", max_catch_up=100_000)


@handlers.register("tick")
async def tick(job: plait.Job) -> None:
    return None
