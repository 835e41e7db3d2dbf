"""Study: how often schedule exploration finds the corpus's latent bugs.

For each bug of ``tests/explore_corpus.py`` (ten latent bugs in plain anyio,
each with a fixed twin) and each explorable event loop, the share of runs
that fail: under the loop's plain scheduling (asyncio's order, which is
fixed; trio's own shuffled batches, unseeded, as a test run gets them) and
under exploration with the random-delay strategy and with PCT, over seeds
0 to N - 1. It runs each fixed twin the same ways (a failure there under
exploration would be one the explorer made), checks that every failure is
the bug's own (its invariant check, a deadline, Python's error), and times
the twins' runs, which all run to their end, so that the cost of
exploring a real test body shows beside what it finds.

Run: ``python -m benchmarks.studies.explore_detection [--seeds N]
[--write docs/guides/testing.md]`` (N defaults to 100; ``--write`` puts the
table into the page between the study's markers). uvloop cannot be
explored, so it is left out. Nothing here is imported by plait.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from plait.testing import run

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from explore_corpus import CORPUS, Bug  # noqa: E402

BACKENDS = ("asyncio", "trio")
MODES = ("plain", "random", "pct")
EXPLORED_TWINS = ("random twin", "pct twin")
BEGIN = "<!-- study:detection:begin -->"
END = "<!-- study:detection:end -->"


@dataclass
class Tally:
    """Runs of one scenario under one mode on one loop."""

    runs: int = 0
    failed: int = 0
    foreign: list[str] = field(default_factory=list[str])
    """Failures that are not the bug showing (there should be none)."""
    seconds: float = 0.0


def once(
    fn: Callable[[], Awaitable[None]], backend: str, mode: str, seed: int
) -> BaseException | None:
    """Run *fn* once; return what it raised, if anything."""
    try:
        if mode == "plain":
            run(fn, backend=backend)
        else:
            run(fn, backend=backend, fuzz_seed=seed, strategy=mode)
    except Exception as error:
        return error
    return None


def measure(
    bug: Bug, backend: str, mode: str, seeds: int, *, fixed: bool = False
) -> Tally:
    """Run the bug (or its twin) *seeds* times under *mode* on *backend*."""
    fn = bug.fixed if fixed else bug.buggy
    tally = Tally()
    for seed in range(seeds):
        start = time.perf_counter()
        error = once(fn, backend, mode, seed)
        tally.seconds += time.perf_counter() - start
        tally.runs += 1
        if error is None:
            continue
        tally.failed += 1
        if fixed or not bug.is_failure(error):
            tally.foreign.append(f"{mode} seed {seed}: {error!r}")
    return tally


def study(seeds: int) -> dict[tuple[str, str, str], Tally]:
    """Measure every bug, loop and mode (and the twins under exploration)."""
    tallies: dict[tuple[str, str, str], Tally] = {}
    for backend in BACKENDS:
        for mode in MODES:
            # Imports and first-call caches are paid here, outside the timings.
            once(CORPUS[0].fixed, backend, mode, 0)
    for bug in CORPUS:
        for backend in BACKENDS:
            for mode in MODES:
                tallies[bug.name, backend, mode] = measure(bug, backend, mode, seeds)
                tallies[bug.name, backend, f"{mode} twin"] = measure(
                    bug, backend, mode, seeds, fixed=True
                )
        print(f"measured {bug.name}", file=sys.stderr)
    return tallies


def rate(tally: Tally) -> str:
    return f"{round(100 * tally.failed / tally.runs)} %"


def markdown(tallies: dict[tuple[str, str, str], Tally], seeds: int) -> str:
    """Render the detection table, the twins' line and the cost line."""
    head = ["bug", "kind"] + [f"{b} {m}" for b in BACKENDS for m in MODES]
    lines = [
        BEGIN,
        "",
        f"Share of runs that fail, over {seeds} runs each (exploration: seeds "
        f"0-{seeds - 1}); from `benchmarks/studies/explore_detection.py`:",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    cells_of = [(b, m) for b in BACKENDS for m in MODES]
    found = dict.fromkeys(cells_of, 0)
    for bug in CORPUS:
        cells = [f"`{bug.name}`", bug.kind]
        for backend in BACKENDS:
            for mode in MODES:
                tally = tallies[bug.name, backend, mode]
                cells.append(rate(tally))
                found[backend, mode] += tally.failed > 0
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        "| **found** | | "
        + " | ".join(f"**{found[cell]} of {len(CORPUS)}**" for cell in cells_of)
        + " |"
    )
    twins = [t for key, t in tallies.items() if key[2] in EXPLORED_TWINS]
    foreign = [f for t in tallies.values() for f in t.foreign]
    lines += [
        "",
        f"Fixed twins: {sum(t.failed for t in twins)} failures in "
        f"{sum(t.runs for t in twins)} explored runs. Failures that were not the "
        f"bug's own: {len(foreign)}.",
    ]
    cost = []
    for backend in BACKENDS:
        per_mode = {
            mode: sum(
                tallies[bug.name, backend, f"{mode} twin"].seconds for bug in CORPUS
            )
            for mode in MODES
        }
        cost.append(
            f"{backend}: random {per_mode['random'] / per_mode['plain']:.1f}x, "
            f"PCT {per_mode['pct'] / per_mode['plain']:.1f}x"
        )
    lines += [
        "",
        "Time for the fixed twins' runs (each runs to its end), explored over "
        "plain, in one process, side by side: " + "; ".join(cost) + ".",
        "",
        END,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    """Measure; print the table, and write it into a page if asked."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.studies.explore_detection"
    )
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--write", type=Path, metavar="PAGE")
    args = parser.parse_args(argv)
    tallies = study(args.seeds)
    text = markdown(tallies, args.seeds)
    print(text)
    for tally in tallies.values():
        for line in tally.foreign:
            print("not the bug's failure:", line, file=sys.stderr)
    if args.write is not None:
        from .._page import write_page

        write_page(args.write, text, BEGIN, END)


if __name__ == "__main__":
    main(sys.argv[1:])
