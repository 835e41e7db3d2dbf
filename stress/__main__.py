"""``python -m stress``: run seeded cases of every family; exit 1 on an anomaly.

Examples::

    python -m stress --short                 # CI: a few hundred cases per loop
    python -m stress                         # 10,000 cases per event loop
    python -m stress --family imap --backend trio --seed 1234   # replay one
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator, Sequence

from ._draw import draw
from ._drive import run_case
from ._model import BACKENDS, Backend, Family
from ._registry import FAMILIES

SHORT = 300
LONG = 10_000


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stress", description=__doc__)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--short", action="store_true", help=f"{SHORT} cases per loop")
    size.add_argument("--cases", type=int, default=LONG, help="cases per event loop")
    p.add_argument("--backend", action="append", choices=BACKENDS)
    p.add_argument("--family", action="append", choices=sorted(FAMILIES))
    p.add_argument("--first-seed", type=int, default=0, help="seed of the first case")
    p.add_argument("--seed", type=int, help="replay this one case (per family/loop)")
    p.add_argument(
        "--skip-known",
        action="store_true",
        help="leave out families failing today for a defect another change owns",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print anomalies only")
    return p.parse_args(argv)


def schedule(families: Sequence[Family], backend: Backend) -> list[Family]:
    """One round of families, each as often as its weight, on *backend*."""
    return [
        family
        for family in families
        if backend in family.backends
        for _ in range(family.weight)
    ]


def cases(
    families: Sequence[Family], backend: Backend, count: int, first: int
) -> Iterator[tuple[Family, int]]:
    """The (family, seed) of each of *count* cases on *backend*."""
    rounds = schedule(families, backend)
    for k in range(count):
        yield rounds[k % len(rounds)], first + k


def replay_command(family: Family, backend: Backend, seed: int) -> str:
    return f"python -m stress --family {family.name} --backend {backend} --seed {seed}"


def report(family: Family, backend: Backend, seed: int, problems: list[str]) -> None:
    scenario = draw(family, backend, seed)
    print(f"ANOMALY {family.name} on {backend}, seed {seed}", flush=True)
    print(f"  scenario: {scenario.describe()}")
    for problem in problems:
        print(f"  - {problem}")
    if family.known:
        print(f"  (known: {family.known})")
    print(f"  replay: {replay_command(family, backend, seed)}", flush=True)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    # The job families fail jobs on purpose, and the durable worker logs each
    # failure; the harness judges outcomes itself, so keep stderr for anomalies.
    logging.getLogger("plait").addHandler(logging.NullHandler())
    logging.getLogger("plait").propagate = False
    families = [FAMILIES[name] for name in args.family or FAMILIES]
    if args.skip_known:
        for family in families:
            if family.known:
                print(f"skipped {family.name}: {family.known}")
        families = [family for family in families if not family.known]
    backends: list[Backend] = args.backend or list(BACKENDS)
    count = SHORT if args.short else args.cases
    anomalies = 0
    for backend in backends:
        started, ran, failed = time.monotonic(), 0, 0
        if args.seed is not None:
            plan = [(f, args.seed) for f in families if backend in f.backends]
        else:
            plan = list(cases(families, backend, count, args.first_seed))
        for family, seed in plan:
            problems = run_case(family, draw(family, backend, seed), backend)
            ran += 1
            if problems:
                failed += 1
                report(family, backend, seed, problems)
            if args.seed is not None and not args.quiet:
                print(
                    f"{family.name} on {backend}, seed {seed}: "
                    f"{'ok' if not problems else 'ANOMALY'}"
                )
                print(f"  scenario: {draw(family, backend, seed).describe()}")
        anomalies += failed
        if not args.quiet:
            seconds = time.monotonic() - started
            print(f"{backend}: {ran} cases, {failed} with anomalies, {seconds:.0f}s")
    return 1 if anomalies else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
