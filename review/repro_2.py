"""repro_2: race() reports a BaseException from a contestant's callable two ways.

race's docstring: "A BaseException that is not a cancellation (SystemExit,
one of your own) ends the race at once and propagates in a
BaseExceptionGroup." With ``stagger`` a callable raising one gives that
group; without ``stagger`` (callables are called up front) the same callable
gives the bare exception. Issue 11 (defect 5) asked the two modes to agree
for a callable that raises; they agree for Exception, not for BaseException.
Deterministic, all three event loops.

Run: python review/repro_2.py
"""

from __future__ import annotations

import sys

import anyio

import plait


class Stop(BaseException):
    pass


def bad() -> object:
    raise Stop("raised when called")


async def ok() -> str:
    await anyio.sleep(0.01)
    return "ok"


async def main(stagger: float | None) -> str:
    try:
        await plait.race(bad, ok, stagger=stagger)
    except BaseException as e:  # noqa: BLE001
        return type(e).__name__
    return "returned"


def run() -> int:
    seen = set()
    for backend, options in [("asyncio", {}), ("asyncio", {"use_uvloop": True}), ("trio", {})]:
        for stagger in (None, 0.0, 0.005):
            got = anyio.run(main, stagger, backend=backend, backend_options=options)
            seen.add(got)
            name = "uvloop" if options else backend
            print(f"{name:8} stagger={stagger}: {got}")
    return 0 if len(seen) == 1 else 1


if __name__ == "__main__":
    sys.exit(run())
