"""Study: the patterns of this checkout against another git ref, side by side.

Loads the other ref's ``src/plait`` as a second package (``plait_<ref>``: its
modules import each other relatively, so a renamed copy is self-contained)
and times both in one process with the interleaved timer of ``_timing``, on
the same work as the benchmarks' cases, so that a change to a hot loop is
measured against the code it replaces rather than against numbers taken on
another day. Run:
``python -m benchmarks.studies.ab_versions [--ref main] [--backend asyncio]``
(``--rounds`` and ``--min-time`` trade time for tighter intervals).
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio

import plait

from .._model import Probe, Trial
from .._runner import ROOT
from .._work import make_work
from ._timing import Job, interleave, summary

N = 10_000
LIMIT = 100


def load_ref(ref: str, into: Path) -> ModuleType:
    """Import *ref*'s ``src/plait`` as ``plait_<ref>`` from a copy under *into*."""
    name = "plait_" + re.sub(r"\W", "_", ref)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src/plait"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "src" / "plait").rename(into / name)
    sys.path.insert(0, str(into))
    return importlib.import_module(name)


def _trial(backend: Any, limit: int) -> Trial:
    probe = Probe()
    return Trial(backend, N, {"limit": limit}, probe, make_work(backend, probe))


def jobs_for(package: ModuleType, label: str, backend: Any) -> dict[str, Job]:
    """The timed calls of one plait package, named ``<pattern> <label>``."""

    def job(run: Callable[[Trial], Any], limit: int = LIMIT) -> Job:
        async def timed() -> object:
            return await run(_trial(backend, limit))

        return timed

    async def bounded_map(t: Trial) -> object:
        return await package.bounded_map(t.work, range(t.n), limit=t.limit)

    async def bounded_map_async_items(t: Trial) -> object:
        async def items() -> Any:
            for x in range(t.n):
                yield x

        return await package.bounded_map(t.work, items(), limit=t.limit)

    def imap(ordered: bool) -> Callable[[Trial], Any]:
        async def run(t: Trial) -> object:
            out: list[Any] = []
            async with package.imap(
                t.work, range(t.n), limit=t.limit, ordered=ordered
            ) as results:
                async for value in results:
                    out.append(value)
            return out

        return run

    async def gather(t: Trial) -> object:
        return await package.gather(*[t.work(x) for x in range(t.n)])

    return {
        f"bounded_map {label}": job(bounded_map),
        f"bounded_map limit=10 {label}": job(bounded_map, 10),
        f"bounded_map async items {label}": job(bounded_map_async_items),
        f"imap ordered {label}": job(imap(True)),
        f"imap unordered {label}": job(imap(False)),
        f"gather {label}": job(gather),
    }


async def main(other: ModuleType, ref: str, backend: Any, args: Any) -> None:
    ours = jobs_for(plait, "(this checkout)", backend)
    theirs = jobs_for(other, f"({ref})", backend)
    print(f"N={N} limit={LIMIT} (unless said) on {args.backend}; {args.clock} µs")
    print(f"per item; ratio = this checkout / {ref}, with its 95% interval")
    for (name, job), (base_name, base) in zip(
        ours.items(), theirs.items(), strict=True
    ):
        if args.only and args.only not in name:
            continue
        samples = await interleave(
            {base_name: base, name: job},
            rounds=args.rounds,
            min_time=args.min_time,
            timer=time.process_time if args.clock == "cpu" else time.perf_counter,
        )
        print("\n".join(summary(samples, base_name, N)))


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.ab_versions")
    parser.add_argument("--ref", default="main")
    parser.add_argument("--backend", choices=("asyncio", "uvloop", "trio"))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--only", help="time only the cases whose name has this")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="CPU time of this process (default: robust on a loaded machine)",
    )
    args = parser.parse_args(argv)
    backends = [args.backend] if args.backend else ["asyncio", "uvloop", "trio"]
    with tempfile.TemporaryDirectory() as tmp:
        other = load_ref(args.ref, Path(tmp))
        for name in backends:
            args.backend = name
            loop = "trio" if name == "trio" else "asyncio"
            options = {"use_uvloop": True} if name == "uvloop" else {}
            anyio.run(
                main, other, args.ref, loop, args, backend=loop, backend_options=options
            )


if __name__ == "__main__":
    cli()
