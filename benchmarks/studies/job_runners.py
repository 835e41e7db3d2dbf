"""CPU per job of a durable worker's runners, without a database.

``python -m benchmarks.studies.job_runners [N]``: a worker's ``Runs`` and
``Ledger`` are fed N claimed no-op jobs in batches of 200, as round trips
would bring them, on asyncio, uvloop and trio; the figure is this process's
CPU time per job (what a worker's event loop spends running a job: taking
it from its queue, the ``Job``, the handler call in its cancel scope, and
the outcome, counted and settled).
"""

from __future__ import annotations

import sys
import time

import anyio

import plait
from plait._jobs.durable._engine import Claimed
from plait._jobs.durable._ledger import Ledger
from plait._jobs.durable._runs import Outcome, Runs

BATCH = 200


async def run_jobs(n: int) -> float:
    """Run *n* no-op jobs through the runners; return CPU seconds per job."""
    handlers = plait.JobHandlers()

    @handlers.register("noop")
    async def noop(job: plait.Job) -> None:
        pass

    finished = 0

    def on_outcome(claimed: Claimed, outcome: Outcome) -> None:
        nonlocal finished
        ledger.outcome(claimed, outcome)
        finished += 1

    runs = Runs(handlers, "w", {"default": 100}, on_outcome)
    ledger = Ledger("w", runs, lambda job_id: None)
    rows = [
        Claimed(i, "noop", f'{{"i": {i}}}', 0, 0.0, None, 1, 1, "default")
        for i in range(n)
    ]
    started = time.process_time()
    async with anyio.create_task_group() as tg:
        with runs.running(tg):
            for first in range(0, n, BATCH):
                for row in rows[first : first + BATCH]:
                    ledger.hold(row)
                while finished < min(n, first + BATCH):
                    await anyio.sleep(0)
                acks, releases = ledger.take()
                accepted = tuple(a.id for a in acks)
                ledger.settle(acks, releases, accepted, (), time.time(), stopping=False)
    return (time.process_time() - started) / n


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 60_000
    loops = [
        ("asyncio", "asyncio", {}),
        ("uvloop", "asyncio", {"use_uvloop": True}),
        ("trio", "trio", {}),
    ]
    for label, backend, options in loops:
        seconds = anyio.run(run_jobs, n, backend=backend, backend_options=options)
        print(f"{label}: {seconds * 1e6:.1f} us of CPU per job ({n:,} jobs)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
