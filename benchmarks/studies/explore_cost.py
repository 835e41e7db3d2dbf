"""Study: what exploring costs a fuzzed property test, run for run.

plait's property tests run the stress harness's scenarios (``stress/``):
a pattern over drawn jobs, an outer cancellation at a drawn instant, on
virtual time, checked for anything lost. This study draws N cases per
family on asyncio and trio and runs each twice, side by side in one
process, in alternating order: unexplored, and explored under the case's
seed with the default strategy. It reports the time explored over
unexplored, per family and in all, and the anomalies each way (exploration
must add none: it must not invent behaviour the loops cannot have; a
family's known anomalies show both ways).

Run: ``python -m benchmarks.studies.explore_cost [--cases N]`` (N defaults
to 40). The benchmarks' ``exploration`` family measures the cost per task
step; this is the cost per test. uvloop cannot be explored, so it is left
out; so are the job worker's real-time cases. Nothing here is imported by
plait.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from stress import FAMILIES, draw, run_case  # noqa: E402
from stress._model import Backend  # noqa: E402

BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")


def study(cases: int) -> list[tuple[str, str, float, float, int, int]]:
    """Per family and loop: seconds unexplored, explored, anomalies each way."""
    rows = []
    families = [f for f in FAMILIES.values() if not f.real_time]
    for backend in BACKENDS:
        for family in families:
            plain = explored = 0.0
            plain_anomalies = explored_anomalies = 0
            # One unmeasured pair first: imports and first-call caches.
            for seed in range(-1, cases):
                drawn = draw(family, backend, max(seed, 0))
                unexplored = dataclasses.replace(drawn, fuzz_seed=None)
                fuzzed = dataclasses.replace(drawn, fuzz_seed=max(seed, 0))
                # Alternate which goes first: the second finds caches warm.
                order = (unexplored, fuzzed) if seed % 2 else (fuzzed, unexplored)
                timed = {}
                for scenario in order:
                    start = time.perf_counter()
                    problems = run_case(family, scenario, backend)
                    timed[scenario.fuzz_seed is None] = (
                        time.perf_counter() - start,
                        bool(problems),
                    )
                if seed < 0:
                    continue
                plain += timed[True][0]
                explored += timed[False][0]
                plain_anomalies += timed[True][1]
                explored_anomalies += timed[False][1]
            rows.append(
                (
                    family.name,
                    backend,
                    plain,
                    explored,
                    plain_anomalies,
                    explored_anomalies,
                )
            )
            print(f"measured {family.name} on {backend}", file=sys.stderr)
    return rows


def markdown(rows: list[tuple[str, str, float, float, int, int]], cases: int) -> str:
    """Render per-family ratios, the overall ratio per loop, the anomalies."""
    lines = [
        f"{cases} stress cases per family, each run unexplored and explored "
        "(strategy 'random'), side by side:",
        "",
        "| family | loop | unexplored ms/case | explored ms/case | explored / "
        "unexplored | anomalies (unexplored, explored) |",
        "|---|---|--:|--:|--:|---|",
    ]
    for name, backend, plain, explored, a, b in rows:
        lines.append(
            f"| {name} | {backend} | {1000 * plain / cases:.1f} | "
            f"{1000 * explored / cases:.1f} | {explored / plain:.2f}x | {a}, {b} |"
        )
    for backend in BACKENDS:
        plain = sum(r[2] for r in rows if r[1] == backend)
        explored = sum(r[3] for r in rows if r[1] == backend)
        lines.append(f"| **all** | {backend} | | | **{explored / plain:.2f}x** | |")
    lines.append("")
    for family in FAMILIES.values():
        if family.known and any(row[0] == family.name for row in rows):
            lines.append(f"Known anomalies of {family.name}: {family.known}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.explore_cost")
    parser.add_argument("--cases", type=int, default=40)
    args = parser.parse_args(argv)
    # The job families fail jobs on purpose; the harness judges outcomes itself.
    logging.getLogger("plait").addHandler(logging.NullHandler())
    logging.getLogger("plait").propagate = False
    print(markdown(study(args.cases), args.cases))


if __name__ == "__main__":
    main(sys.argv[1:])
