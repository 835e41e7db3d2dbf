"""Where bounded_map's time goes over the hand-written pool, one suspect at a time.

The hand-written pool is rebuilt step by step into the worker loop plait
first had: each step adds one thing that loop did per item, so the ratios
price each of them. What it found shaped ``_work_plain`` in
``plait/_patterns/_map.py``: a for-loop over the shared iterator, the awaitable check
moved to the failure path, no extra coroutine frame, and workers started at
once for items of known length. Run:
``python -m benchmarks.studies.map_hotspots [asyncio|uvloop|trio]``.
"""

from __future__ import annotations

import sys
from contextvars import copy_context
from types import CoroutineType
from typing import Any

import anyio

import plait

from .._model import Probe, Trial
from .._work import make_work
from ..cases.bounded_map import anyio_pool
from ._timing import interleave, summary

N = 20_000
LIMIT = 100
_MISSING: Any = object()


def _trial(backend: Any) -> Trial:
    probe = Probe()
    return Trial(backend, N, {"limit": LIMIT}, probe, make_work(backend, probe))


async def _pool(t: Trial, *, context: bool, nested: bool) -> list[Any]:
    """The pool with plait's per-item steps switched on one by one."""
    results: list[Any] = []
    pairs = enumerate(range(t.n))
    fn = t.work
    state = {"stopped": False}

    async def items() -> None:
        start = copy_context()
        while not state["stopped"]:
            pair = next(pairs, None)
            if pair is None:
                return
            index, item = pair
            results.append(_MISSING)
            aw = fn(item)
            if type(aw) is not CoroutineType:
                raise TypeError
            results[index] = await aw
            if context and copy_context() != start:
                return

    async def worker() -> None:
        if nested:
            try:
                await items()
            finally:
                pass
        else:
            await items()

    async with anyio.create_task_group() as tg:
        for _ in range(LIMIT):
            tg.start_soon(worker)
    return results


async def main(backend: Any, name: str) -> None:
    async def pool() -> object:
        return await anyio_pool(_trial(backend))

    def step(**flags: bool) -> Any:
        async def job() -> object:
            return await _pool(_trial(backend), **flags)

        return job

    async def plait_map() -> object:
        t = _trial(backend)
        return await plait.bounded_map(t.work, range(N), limit=LIMIT)

    jobs = {
        "hand-written anyio pool": pool,
        "+ plait's pull/append/type check": step(context=False, nested=False),
        "+ per-item context comparison": step(context=True, nested=False),
        "+ one more coroutine frame": step(context=True, nested=True),
        "plait.bounded_map": plait_map,
    }
    samples = await interleave(jobs, rounds=9, min_time=0.3)
    print(f"bounded_map N={N} limit={LIMIT} on {name}")
    print("\n".join(summary(samples, "hand-written anyio pool", N)))


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    loop = "trio" if name == "trio" else "asyncio"
    options = {"use_uvloop": True} if name == "uvloop" else {}
    anyio.run(main, loop, name, backend=loop, backend_options=options)
