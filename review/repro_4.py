"""repro_4: imap's "error closing items" leaves bare after a clean break.

imap's docstring: "an error closing items leave[s] the async with in an
ExceptionGroup, after the block's own exception if it raised one". When the
block ends cleanly (a ``break``) and closing the async generator given as
items raises, the error leaves bare instead; with a failure beside it (block
error, a call's cleanup) it is grouped. ``except ExceptionGroup`` (what the
docstring promises) misses it; ``except* OSError`` catches both shapes.
tests/test_lifecycle.py::test_release_runs_after_the_group_and_its_error_is_kept
asserts the bare shape for TaskGroupOwner, so the docstring and the lifecycle
disagree: one of them should change (the team's call). Deterministic, all
three event loops.

Run: python review/repro_4.py
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import anyio

import plait


async def items() -> AsyncIterator[int]:
    try:
        for i in range(10):
            yield i
    finally:
        raise OSError("closing items")


async def double(x: int) -> int:
    await anyio.sleep(0)
    return 2 * x


async def main() -> str:
    try:
        async with plait.imap(double, items(), limit=2) as results:
            async for _ in results:
                break
    except ExceptionGroup as group:
        return f"ExceptionGroup {group.exceptions!r}"
    except OSError as exc:
        return f"bare {exc!r}"
    return "nothing raised"


def run() -> int:
    shapes = set()
    for backend, options in [
        ("asyncio", {}),
        ("asyncio", {"use_uvloop": True}),
        ("trio", {}),
    ]:
        got = anyio.run(main, backend=backend, backend_options=options)
        shapes.add(got.split()[0])
        print(f"{'uvloop' if options else backend:8}: {got}")
    return 0 if shapes == {"ExceptionGroup"} else 1


if __name__ == "__main__":
    sys.exit(run())
