"""anyio's test_nested_task_group_filtering on plain trio: trio itself fails it.

``nox -s explore_anyio`` finds that schedule exploration fails this test of
anyio's (tests/test_taskgroups.py) on trio under some seeds, and that the
failure replays. This script shows the schedule is one trio makes on its
own, with no plait at all: the test body, as anyio has it, run many times
on trio with trio's own ``MockClock(rate=1, autojump_threshold=0)`` (time
runs at real speed and jumps to the next deadline when every task waits).
When trio's batch order starts the child task first, the child's sleep
ends a few microseconds before the parent's, the clock jumps to exactly
that deadline, and the child's failure reaches the outer group before the
parent's does: the order the test asserts is reversed. Exits 0 when trio
failed it at least once (the schedule is trio's), 1 when it never did.

Run: ``python tests/scripts/anyio_nested_filtering.py [RUNS]`` (default 1000).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import anyio
import trio.testing


async def fail(name: str) -> NoReturn:
    try:
        await anyio.sleep(0.1)
    finally:
        raise Exception(f"{name} task failed")


async def fn() -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(fail, "parent")
        async with anyio.create_task_group() as tg2:
            tg2.start_soon(fail, "child")
            await anyio.sleep(1)


def passes() -> bool:
    """Run the body once on trio; whether the test's assertions hold."""
    clock = trio.testing.MockClock(rate=1, autojump_threshold=0)
    try:
        anyio.run(fn, backend="trio", backend_options={"clock": clock})
    except BaseExceptionGroup as group:
        inner = group.exceptions
        return (
            len(inner) == 2
            and str(inner[0]) == "parent task failed"
            and isinstance(inner[1], ExceptionGroup)
        )
    return False


def main(runs: int) -> int:
    failed = sum(not passes() for _ in range(runs))
    clock = "MockClock(rate=1, autojump_threshold=0)"
    print(f"plain trio, {clock}: {failed} of {runs} failed")
    return 0 if failed else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
