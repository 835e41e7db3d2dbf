"""Study: what watching a map costs, side by side with the same map unwatched.

bounded_map and imap over N items, timed interleaved in one process: with no
observer, with an observer that only counts the items that ended (the least
an observer costs: the events themselves), and with ``plait.TqdmObserver``
and ``plait.RichObserver`` drawing into memory. Run:
``python -m benchmarks.studies.observer_cost [--backend asyncio] [--clock wall]``.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from typing import Any

import anyio

import plait

from .._model import Probe, Trial
from .._work import make_work
from ..cases._common import counting_observer, tqdm_observer
from ._timing import Job, interleave, summary

N = 10_000
LIMIT = 100


def rich_observer() -> Any:
    """A ``plait.RichObserver`` drawing into memory."""
    from rich.console import Console

    return plait.RichObserver(console=Console(file=io.StringIO(), width=100))


OBSERVERS: dict[str, Callable[[], Any] | None] = {
    "no observer": None,
    "counting observer": counting_observer,
    "TqdmObserver": tqdm_observer,
    "RichObserver": rich_observer,
}


def jobs(backend: Any, pattern: str) -> dict[str, Job]:
    """One timed call of *pattern* per observer."""

    def job(make: Callable[[], Any] | None) -> Job:
        async def timed() -> object:
            probe = Probe()
            work = make_work(backend, probe)
            trial = Trial(backend, N, {"limit": LIMIT}, probe, work)
            observer = None if make is None else make()
            if pattern == "bounded_map":
                return await plait.bounded_map(
                    trial.work, range(N), limit=LIMIT, observer=observer
                )
            out: list[Any] = []
            async with plait.imap(
                trial.work, range(N), limit=LIMIT, observer=observer
            ) as results:
                async for value in results:
                    out.append(value)
            return out

        return timed

    return {f"{pattern}, {name}": job(make) for name, make in OBSERVERS.items()}


async def main(args: Any, backend: Any) -> None:
    print(f"N={N} limit={LIMIT} on {args.backend}; {args.clock} µs per item, ")
    print("ratio to no observer, with its 95% interval")
    timer = time.process_time if args.clock == "cpu" else time.perf_counter
    for pattern in ("bounded_map", "imap"):
        timed = jobs(backend, pattern)
        samples = await interleave(
            timed, rounds=args.rounds, min_time=args.min_time, timer=timer
        )
        print("\n".join(summary(samples, f"{pattern}, no observer", N)))


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.observer_cost")
    parser.add_argument("--backend", choices=("asyncio", "uvloop", "trio"))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="CPU time of this process, its threads' included (default: robust "
        "on a loaded machine; rich draws from a thread of its own)",
    )
    args = parser.parse_args(argv)
    backends = [args.backend] if args.backend else ["asyncio", "uvloop", "trio"]
    for name in backends:
        args.backend = name
        loop = "trio" if name == "trio" else "asyncio"
        options = {"use_uvloop": True} if name == "uvloop" else {}
        anyio.run(main, args, loop, backend=loop, backend_options=options)


if __name__ == "__main__":
    cli()
