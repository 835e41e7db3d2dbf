"""``python -m benchmarks.jobs``: run the cases, check them, write the page."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import sqlite3
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .._page import machine, write_page
from . import _dbs, _processing
from ._admin import admin_cases
from ._dashboard import line as dashboard_line
from ._procs import ROOT
from ._report import BEGIN, END, markdown
from ._submit import submit_cases

RESULTS = ROOT / "benchmarks" / "results"
CASES = (
    "processing",
    "latency",
    "admin",
    "tracked",
    "enqueue",
    "submit",
    "procrastinate",
)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.jobs", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes, seconds (CI)")
    p.add_argument("--n", type=int, help="processing-only jobs (default 100,000)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    p.add_argument("--workers", default="1,3", help="worker process counts")
    p.add_argument(
        "--concurrency",
        type=int,
        default=100,
        help="plait workers' concurrency (the baseline claims 100 at a time)",
    )
    p.add_argument("--latency-samples", type=int, help="idle jobs (default 40)")
    p.add_argument(
        "--latency-seconds", type=float, help="seconds under load (default 5)"
    )
    p.add_argument("--submit-n", type=int, help="submit+work jobs (default 10,000)")
    p.add_argument("--admin-n", type=int, help="admin table size (default 1,000,000)")
    p.add_argument("--only", default=",".join(CASES), help="cases to run")
    p.add_argument("--engines", default="sqlite,postgres")
    p.add_argument("--postgres", default=os.environ.get("PLAIT_TEST_POSTGRES_DSN"))
    p.add_argument("--page", type=Path, help="page to write the section into")
    p.add_argument("--json", type=Path, help="where the raw records go")
    p.add_argument(
        "--report-only", type=Path, metavar="RAW_JSON", help="re-render a raw run"
    )
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.report_only:
        results = json.loads(args.report_only.read_text())
        page = args.page or ROOT / "docs" / "performance.md"
        write_page(page, markdown(results), BEGIN, END)
        print(f"wrote {page}")
        return 0
    quick = args.quick
    n = args.n or (2_000 if quick else 100_000)
    rounds = args.rounds or (1 if quick else 3)
    samples = args.latency_samples or (3 if quick else 40)
    seconds = args.latency_seconds or (0.3 if quick else 5.0)
    submit_n = args.submit_n or (500 if quick else 10_000)
    admin_n = args.admin_n or (5_000 if quick else 1_000_000)
    counts = [int(w) for w in args.workers.split(",")]
    only = set(args.only.split(","))
    unknown = only - set(CASES)
    if unknown:
        print(f"unknown --only case(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    engines = [e for e in ("sqlite", "postgres") if e in args.engines.split(",")]
    if "postgres" in engines and not args.postgres:
        print("PostgreSQL cases skipped: no --postgres / $PLAIT_TEST_POSTGRES_DSN")
        engines.remove("postgres")
    page = args.page or (
        RESULTS / "raw" / "jobs-quick.md" if quick else ROOT / "docs" / "performance.md"
    )
    raw = args.json or (
        RESULTS / "raw" / "jobs-quick.json" if quick else RESULTS / "jobs.json"
    )
    started = time.monotonic()
    records: list[dict[str, Any]] = []

    def log(record: dict[str, Any]) -> None:
        records.append(record)
        print(_line(record), flush=True)

    if "processing" in only:
        for round_ in range(rounds):
            # Alternate which queue goes first, so drift favours neither.
            kinds: list[_processing.Kind] = ["baseline", "plait"]
            if round_ % 2:
                kinds.reverse()
            for engine in engines:
                for workers in counts:
                    for kind in kinds:
                        log(
                            _processing.throughput(
                                kind,
                                engine,
                                args.postgres,
                                n=n,
                                workers=workers,
                                concurrency=args.concurrency,
                            )
                            | {"round": round_}
                        )
    kinds_of_latency: list[_processing.Kind] = ["baseline", "plait"]
    if "latency" in only:
        # Quick mode: one worker count, for CI's sake.
        for engine in engines:
            for workers in counts[:1] if quick else counts:
                for load in (False, True):
                    for kind in kinds_of_latency:
                        log(
                            _processing.latency(
                                kind,
                                engine,
                                args.postgres,
                                workers=workers,
                                concurrency=args.concurrency,
                                load=load,
                                samples=samples,
                                seconds=seconds,
                            )
                        )

    def record(name: str, workers: int | None, jobs: int, seconds: float) -> None:
        log(
            {
                "case": "submit",
                "name": name,
                "workers": workers,
                "jobs": jobs,
                "seconds": seconds,
                "jobs_per_s": jobs / seconds,
            }
        )

    submit_cases(
        only,
        engines,
        args.postgres,
        n=submit_n,
        counts=counts,
        concurrency=args.concurrency,
        record=record,
    )
    if "admin" in only:
        for engine in engines:
            for found in admin_cases(engine, args.postgres, admin_n):
                log(found)
    results = {
        "meta": {
            "command": f"python -m benchmarks.jobs {' '.join(argv)}".strip(),
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "versions": _versions(args.postgres if "postgres" in engines else None),
            "mode": "quick" if quick else "full",
            "rounds": rounds,
            "concurrency": args.concurrency,
            "elapsed": time.monotonic() - started,
        },
        "records": records,
    }
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=1))
    write_page(page, markdown(results), BEGIN, END)
    print(f"wrote {raw} and {page}")
    return 0


def _line(record: dict[str, Any]) -> str:
    case = record["case"]
    if case == "throughput":
        return (
            f"{record['queue']} {record['engine']}, {record['workers']} worker(s): "
            f"{record['jobs']} jobs in {record['seconds']:.2f} s = "
            f"{record['jobs_per_s']:,.0f} jobs/s"
        )
    if case == "latency":
        return (
            f"{record['queue']} {record['engine']}, {record['workers']} worker(s), "
            f"{record['load']}: {record['jobs']} jobs, p50 "
            f"{record['p50'] * 1e3:.1f} ms, p99 {record['p99'] * 1e3:.1f} ms"
        )
    if case == "admin":
        return (
            f"admin {record['engine']}, {record['jobs']:,} jobs, {record['query']}: "
            f"median {record['median'] * 1e3:.1f} ms, max {record['max'] * 1e3:.1f} ms"
        )
    if case == "dashboard":
        return dashboard_line(record)
    if case == "submit":
        who = "" if record["workers"] is None else f", {record['workers']} worker(s)"
        return (
            f"{record['name']}{who}: {record['jobs']} jobs in "
            f"{record['seconds']:.2f} s = {record['jobs_per_s']:,.0f} jobs/s"
        )
    return json.dumps(record)


def _versions(postgres: str | None) -> str:
    found = [f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}"]
    if postgres:
        ((version,),) = _dbs.sql(postgres, "SHOW server_version")
        found.append(f"PostgreSQL {version}")
    for name in ("anyio", "psycopg", "procrastinate"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)
