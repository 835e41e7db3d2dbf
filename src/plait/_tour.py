"""The tour ``python -m plait`` prints: the patterns at work on each backend."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable
from typing import Any, cast

import anyio

from ._core._event_loop import current_backend, run
from ._patterns._gather import gather
from ._patterns._map import bounded_map
from ._patterns._race import race


async def _fetch(name: str, seconds: float) -> str:
    await anyio.sleep(seconds)
    return name


async def _flaky_mirror() -> str:
    await anyio.sleep(0.01)
    raise ConnectionError("mirror down")


def _show(result: object) -> str:
    if not isinstance(result, list):
        return repr(result)
    items = cast("list[object]", result)
    if len(items) <= 6:
        return repr(items)
    head = ", ".join(map(repr, items[:4]))
    return f"[{head}, ..., {items[-1]!r}] ({len(items)} results)"


async def _tour(label: str) -> list[str]:
    lines = [f"backend: {label} (current_backend() says {current_backend()!r})"]

    async def timed(what: str, fn: Callable[[], Any]) -> None:
        start = time.perf_counter()
        result = await fn()
        elapsed = (time.perf_counter() - start) * 1000
        lines.append(f"  {what:<52} -> {_show(result)}  ({elapsed:.0f} ms)")

    await timed(
        "gather: three fetches of 50, 30, 40 ms, concurrently",
        lambda: gather(_fetch("a", 0.05), _fetch("b", 0.03), _fetch("c", 0.04)),
    )
    await timed(
        "race: a failing mirror, a 20 ms and a 90 ms one",
        lambda: race(_flaky_mirror, lambda: _fetch("fast", 0.02), _fetch("slow", 0.09)),
    )
    await timed(
        "race, stagger=30 ms: the first answers in 10 ms",
        lambda: race(
            lambda: _fetch("primary", 0.01), lambda: _fetch("backup", 0), stagger=0.03
        ),
    )
    peak = 0
    running = 0

    async def square(x: int) -> int:
        nonlocal peak, running
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.01)
        running -= 1
        return x * x

    await timed(
        "bounded_map: 20 calls of 10 ms, limit=5",
        lambda: bounded_map(square, range(20), limit=5),
    )
    lines.append(f"  {'':<52}    at most {peak} calls were in flight")
    return lines


def _backends() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = [("asyncio", None)]
    for name in ("uvloop", "trio"):
        missing = importlib.util.find_spec(name) is None
        found.append(
            (name, f"not installed (pip install 'plait[{name}]')" if missing else None)
        )
    return found


def tour() -> None:
    """Print what gather, race and bounded_map do, and how long they take."""
    print("plait: structured-concurrency patterns over anyio\n")
    for backend, unavailable in _backends():
        if unavailable is not None:
            print(f"backend: {backend}: {unavailable}\n")
            continue
        for line in run(_tour, backend, backend=backend):
            print(line)
        print()


def main(argv: list[str]) -> int:
    """``plait tour``: print the tour; it takes no arguments."""
    if argv:
        print(f"usage: plait tour\nplait tour: unexpected {argv[0]!r}", file=sys.stderr)
        return 2
    tour()
    return 0
