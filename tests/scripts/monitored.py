"""A program under a TaskMonitor: a supervised crawler parked mid-map.

Usage: python monitored.py BACKEND  (asyncio, uvloop or trio)

Prints ``{"ready": ...}`` once its workers are parked, then reads commands on
stdin, one per line: ``block`` prints ``{"blocking": true}`` and blocks the
event loop in a synchronous read of the next line (the call that never
returns, until the test sends a line);
``quit`` shuts down. It prints ``{"done": true}`` when it has.
"""

from __future__ import annotations

import json
import os
import sys

import anyio

import plait

URLS = [f"https://example.org/{n}" for n in range(10)]


def block_the_loop() -> str:
    # A synchronous call in the event loop's thread: nothing else runs.
    return sys.stdin.readline()


async def main() -> None:
    parked = 0
    all_parked = anyio.Event()

    async def fetch(url: str) -> str:
        nonlocal parked
        parked += 1
        if parked == 3:
            all_parked.set()
        await anyio.sleep_forever()
        return url

    async def crawler() -> None:
        await plait.bounded_map(fetch, URLS, limit=3)

    async with (
        plait.TaskMonitor(blocked_after=0.5),
        plait.Supervisor(observers=(), name="app", grace=0) as sup,
    ):
        await sup.start(crawler, name="crawler")
        await all_parked.wait()
        print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline)
            if line == "block\n":
                # Said first, then done with no await between: once the
                # test reads this, the loop cannot answer until unblocked.
                print(json.dumps({"blocking": True}), flush=True)
                block_the_loop()
                print(json.dumps({"unblocked": True}), flush=True)
            else:
                break
        await sup.shutdown()
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    backend = sys.argv[1]
    plait.run(main, backend=backend)
