"""``plait worker``'s command line: the parser, the event loop to run on,
``--queue`` specs and the ``--app`` handlers to load."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from .._model import JobHandlers

PROG = "plait worker"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run jobs from a durable plait queue (SQLite or PostgreSQL).",
        epilog="Exit status: 0 done (or stopped by a signal), 1 the database "
        "could not be read (--status: unreachable, missing SQLite file, schema "
        "too new), 2 bad arguments.",
    )
    parser.add_argument(
        "dsn",
        nargs="?",
        help="sqlite:///path/jobs.db, a path, or postgresql://...; default: $PLAIT_DSN",
    )
    parser.add_argument(
        "--app",
        help="handlers to run, as MODULE:ATTR or path/to/file.py:ATTR "
        "(a plait.JobHandlers, or a function returning one)",
    )
    parser.add_argument(
        "--queue",
        action="append",
        metavar="NAME[=N]",
        help="a queue to serve, with its concurrency (default --concurrency); "
        "repeat for several; default: 'default' and every queue a handler names",
    )
    parser.add_argument("--concurrency", type=int, default=10, metavar="N")
    parser.add_argument("--lease", type=float, default=30.0, metavar="SECONDS")
    parser.add_argument("--grace", type=float, default=30.0, metavar="SECONDS")
    parser.add_argument("--poll-interval", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--name", help="worker name in leases and logs")
    parser.add_argument(
        "--backend", choices=("asyncio", "uvloop", "trio"), default="asyncio"
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="print job counts and the live workers, and exit (never creates "
        "a database)",
    )
    parser.add_argument("--json", action="store_true", help="--status as JSON")
    parser.add_argument(
        "--drain",
        action="store_true",
        help="run until no job is due, retrying or running, then exit",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "rich", "tqdm", "plain", "none"),
        default="auto",
        help="progress display for --drain (auto: rich, else tqdm, else lines)",
    )
    parser.add_argument("--log-level", default="warning")
    return parser


def backend_options(name: str) -> tuple[str, dict[str, Any]]:
    if name == "uvloop":
        return "asyncio", {"use_uvloop": True}
    return name, {}


def parse_queues(specs: list[str] | None, default: int) -> dict[str, int] | None:
    """Read ``--queue NAME[=N]`` options (N: its concurrency, else *default*)."""
    if not specs:
        return None
    queues: dict[str, int] = {}
    for spec in specs:
        name, sep, limit = spec.partition("=")
        try:
            queues[name] = int(limit) if sep else default
        except ValueError:
            raise ValueError(
                f"--queue must be NAME or NAME=N (N jobs at once), got {spec!r}"
            ) from None
    return queues


def load_handlers(spec: str) -> JobHandlers:
    """Import ``MODULE:ATTR`` (or ``path.py:ATTR``) and return its JobHandlers."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(
            f"--app must be MODULE:ATTR, e.g. myapp.jobs:handlers, got {spec!r}"
        )
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        loader_spec = importlib.util.spec_from_file_location(path.stem, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[path.stem] = module
        loader_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        module = importlib.import_module(module_name)
    value = getattr(module, attr)
    if not isinstance(value, JobHandlers) and callable(value):
        value = value()
    if not isinstance(value, JobHandlers):
        raise TypeError(
            f"--app {spec} must name a plait.JobHandlers (or a function "
            f"returning one), got {value!r}"
        )
    return value
