"""repro_3: RateLimiter lets a waiter overtake an earlier one past a cancelled waiter.

RateLimiter's docstring: "Waiters are served in arrival order ... so none can
be overtaken", and acquire() chains each waiter to the one before it so that
returns keep arrival order "even when several timers expire at once (trio
runs a batch of woken tasks in random order)". A waiter cancelled while it
waits sets its link at once, so the waiter behind it no longer waits for the
one in front of it: when the two wake in one batch (their slots fall due
together, or on real time when a wake-up is late), the later arrival can
return first.

Here (virtual time, moved by hand to stand for a late wake-up): waiters A, B,
C queue in that order on a limiter with no token left, B's wait is cancelled,
then the clock moves past both A's and C's slots at once. Expected: A's
acquire() returns before C's. Seen on trio: C first in about half the runs
(trio's batch order is random); asyncio happens to run timers in deadline
order. On real time the stress run saw it with burst=1 on trio (3 of ~350
RateLimiter cases on a loaded machine).

Run: python review/repro_3.py
"""

from __future__ import annotations

import sys

import anyio
from anyio.lowlevel import checkpoint

import plait
import plait.testing
from plait.testing import VirtualClock


async def main() -> list[str]:
    limiter = plait.RateLimiter(10)  # a slot every 0.1 s
    await limiter.acquire()  # the bucket is empty: the next waiters queue
    order: list[str] = []
    scopes: dict[str, anyio.CancelScope] = {}

    async def waiter(name: str) -> None:
        with anyio.CancelScope() as scopes[name]:
            await limiter.acquire()
            order.append(name)

    async with anyio.create_task_group() as tg:
        for name in ("A", "B", "C"):
            tg.start_soon(waiter, name)
            await checkpoint()
        scopes["B"].cancel()
        await checkpoint()
        plait.testing.current_clock().advance(1.0)  # A's and C's slots both due
    return order


def run() -> int:
    bad = 0
    runs = 200
    for backend in ("trio", "asyncio"):
        overtaken = sum(
            plait.testing.run(
                main, backend=backend, virtual_time=VirtualClock(autojump=False)
            )
            != ["A", "C"]
            for _ in range(runs)
        )
        bad += overtaken
        print(f"{backend}: C returned before A in {overtaken} of {runs} runs")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(run())
