"""``python -m benchmarks --quick | --full``: run, check, write the table and plot.

Exit status 1 when a sample's self-check failed or plait or a hand-written
baseline raised (a broken harness); never because of a timing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ._imports import measure
from ._model import BACKENDS, Backend
from ._page import machine, write_page
from ._plot import plot
from ._report import END, markdown
from ._runner import (
    ROOT,
    Group,
    Settings,
    failures,
    installed,
    plan,
    run_batched,
    run_isolated,
)
from ._summary import BEGIN as SUMMARY_BEGIN
from ._summary import END as SUMMARY_END
from ._summary import summary
from .cases import FAMILIES

RAW = ROOT / "benchmarks" / "results" / "raw"
DOCS = ROOT / "docs"
_PACKAGES = (
    "anyio",
    "trio",
    "uvloop",
    "aiometer",
    "aiostream",
    "quattro",
    "lionherd-core",
)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="tiny N, seconds (CI)")
    mode.add_argument("--full", action="store_true", help="the docs' numbers")
    mode.add_argument("--report-only", metavar="RAW_JSON", help="re-render a raw run")
    p.add_argument("--budget", type=float, default=1200.0, help="seconds (full mode)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (full: 6, quick: 2)")
    p.add_argument("--min-time", type=float, help="seconds per sample (full: 0.5)")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--page", type=Path, help="markdown page to write the tables into")
    p.add_argument("--png", type=Path, help="where the plot goes")
    p.add_argument("--raw", type=Path, help="where the raw JSON goes")
    return p.parse_args(argv)


def _versions() -> str:
    found = []
    for name in _PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    return ", ".join(found)


def render(results: dict[str, Any], page: Path, png: Path) -> None:
    """Write the summary (with the plot) and the tables into *page*."""
    problem = plot(results, png)
    section = markdown(results)
    if problem:
        section = section.replace(END, f"_{problem}._\n{END}")
    shown = None if problem else os.path.relpath(png, page.parent)
    write_page(page, summary(results, shown), SUMMARY_BEGIN, SUMMARY_END)
    write_page(page, section)


def _settings(args: argparse.Namespace, quick: bool) -> Settings:
    wanted = [b for b in BACKENDS if b in args.backends.split(",")]
    # A backend whose event loop is not installed is left out, with a note.
    backends: tuple[Backend, ...] = tuple(
        b for b in wanted if b == "asyncio" or installed(b)
    )
    for missing in sorted(set(wanted) - set(backends)):
        print(f"note: {missing} is not installed; its cases are skipped")
    min_time = args.min_time if args.min_time is not None else (0.0 if quick else 0.5)
    return Settings(
        mode="quick" if quick else "full",
        rounds=args.rounds or (2 if quick else 6),
        min_time=min_time,
        budget=args.budget,
        isolate=not quick,
        backends=backends,
        families=tuple(f for f in FAMILIES if f in args.families.split(",")),
    )


def _results(
    argv: list[str],
    settings: Settings,
    groups: list[Group],
    imports: dict[str, Any],
    elapsed: float,
) -> dict[str, Any]:
    return {
        "meta": {
            "command": f"python -m benchmarks {' '.join(argv)}".strip(),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "python": platform.python_version(),
            "versions": _versions(),
            "mode": settings.mode,
            "rounds": settings.rounds,
            "min_time": settings.min_time,
            "isolate": settings.isolate,
            "elapsed": elapsed,
        },
        "groups": [g.as_json() for g in groups],
        "imports": imports,
        "failures": failures(groups),
    }


def main(argv: list[str]) -> int:
    """Run (or re-render) and return the exit status."""
    args = parse(argv)
    loaded = None
    if args.report_only:
        loaded = json.loads(Path(args.report_only).read_text())
    quick = bool(args.quick) or (
        loaded is not None and loaded["meta"]["mode"] == "quick"
    )
    # The full run's raw samples are kept next to the harness, so the page can
    # be re-rendered from them; quick runs go to the git-ignored raw/ folder.
    raw = args.raw or (RAW / "quick.json" if quick else RAW.parent / "full.json")
    page = args.page or (RAW / "quick.md" if quick else DOCS / "performance.md")
    png = args.png or (RAW / "quick.png" if quick else DOCS / "img" / "performance.png")
    if loaded is not None:
        render(loaded, page, png)
        print(f"wrote {page} and {png}")
        return 0

    def log(line: str) -> None:
        print(line, flush=True)

    settings = _settings(args, quick)
    started = time.monotonic()
    imports = measure(2 if quick else 15)
    groups = plan(settings)
    raw.parent.mkdir(parents=True, exist_ok=True)

    def save() -> dict[str, Any]:
        elapsed = time.monotonic() - started
        results = _results(argv, settings, groups, imports, elapsed)
        raw.write_text(json.dumps(results, separators=(",", ":")))
        return results

    log(f"{len(groups)} groups ({settings.mode} mode)")
    if quick:
        run_batched(groups, settings, log)
    else:
        # Saved after every round: a run cut short can still be rendered.
        run_isolated(groups, settings, log, save)
    results = save()
    render(results, page, png)
    log(f"wrote {raw}, {page}, {png} in {time.monotonic() - started:.0f}s")
    for line in results["failures"]:
        log(f"FAILED {line}")
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
