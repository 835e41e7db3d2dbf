"""``plait worker``: run, inspect or drain a durable job queue from a shell.

    plait worker DSN --app myapp.jobs:handlers [--concurrency 10]
    plait worker DSN --status [--json]
    plait worker DSN --app myapp.jobs:handlers --drain

SIGTERM or SIGINT stops claiming, lets running jobs finish within
``--grace`` seconds and releases the rest; a second signal releases at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import anyio
from anyio import TASK_STATUS_IGNORED
from anyio.abc import TaskStatus

from .._model import JobHandlers
from ._admin import require_database
from ._calls import connect, in_thread
from ._engine import DatabaseUnavailableError, SchemaVersionError
from ._rows import FINISHED, QueueStats, WorkerRecord
from ._worker import JobWorker

PROG = "plait worker"


def main(argv: list[str] | None = None) -> int:
    """Run ``plait worker`` with *argv* (without the program name); return the
    exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["worker"]:
        args_list = args_list[1:]
    parser = _parser()
    args = parser.parse_args(args_list)
    dsn = args.dsn or os.environ.get("PLAIT_DSN")
    if not dsn:
        parser.error("give the job database as DSN or in $PLAIT_DSN")
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    backend, options = _backend_options(args.backend)
    if args.status:
        try:
            # Looking must not create: a typo names no database.
            require_database(dsn)
            stats, workers = anyio.run(
                _status, dsn, backend=backend, backend_options=options
            )
        except (DatabaseUnavailableError, SchemaVersionError) as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 1
        _print_status(stats, workers, json_out=args.json, out=sys.stdout)
        return 0
    if not args.app:
        parser.error("--app MODULE:ATTR is required to run jobs")
    try:
        handlers = load_handlers(args.app)
        worker = JobWorker(
            dsn,
            handlers,
            queues=parse_queues(args.queue, args.concurrency),
            concurrency=args.concurrency,
            lease=args.lease,
            grace=args.grace,
            poll_interval=args.poll_interval,
            until_empty=args.drain,
            name=args.name,
        )
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    # The worker itself waits out an unreachable database, with backoff.
    anyio.run(
        _run,
        worker,
        args.drain,
        args.progress,
        backend=backend,
        backend_options=options,
    )
    s = worker.stats
    print(
        f"{PROG}: stopped: claimed {s.claimed}, done {s.done}, retried "
        f"{s.retried}, dead {s.dead}, released {s.released}, rejected "
        f"{s.rejected}",
        file=sys.stderr,
    )
    return 0


def _parser() -> argparse.ArgumentParser:
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


def _backend_options(name: str) -> tuple[str, dict[str, Any]]:
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


async def _status(dsn: str) -> tuple[QueueStats, list[WorkerRecord]]:
    engine = await connect(dsn, create=False)
    try:
        stats = await in_thread(engine.stats, now=time.time())
        workers = await in_thread(engine.workers)
    finally:
        await in_thread(engine.close)
    now = time.time()
    return stats, [w for w in workers if w.alive(now)]


def _print_status(
    stats: QueueStats, workers: list[WorkerRecord], *, json_out: bool, out: TextIO
) -> None:
    if json_out:
        data = {
            "counts": stats.counts,
            "by_type": stats.by_type,
            "by_queue": stats.by_queue,
            "oldest_queued_age": stats.oldest_queued_age,
            "workers": [dataclasses.asdict(w) for w in workers],
        }
        print(json.dumps(data, sort_keys=True), file=out)
        return
    states = list(stats.counts)
    width = max([len("type"), *(len(t) for t in stats.by_type)])
    print(f"{'type':<{width}}  " + "  ".join(f"{s:>8}" for s in states), file=out)
    for type_, counts in stats.by_type.items():
        cells = "  ".join(f"{counts.get(s, 0):>8}" for s in states)
        print(f"{type_:<{width}}  {cells}", file=out)
    cells = "  ".join(f"{stats.counts[s]:>8}" for s in states)
    print(f"{'total':<{width}}  {cells}", file=out)
    age = stats.oldest_queued_age
    print(
        "oldest queued: " + ("none" if age is None else f"{age:.1f} s"),
        file=out,
    )
    _print_workers(workers, out)


def _print_workers(workers: list[WorkerRecord], out: TextIO) -> None:
    """The live workers: name, host, pid, queues, jobs running, last seen."""
    print(f"workers alive: {len(workers)}", file=out)
    if not workers:
        return
    now = time.time()
    rows = [("NAME", "HOST", "PID", "QUEUES", "RUNNING", "STATE", "LAST SEEN")]
    rows += [
        (
            w.name,
            w.host,
            str(w.pid),
            ",".join(f"{q}={n}" for q, n in sorted(w.queues.items())),
            str(w.running),
            w.state,
            f"{max(0.0, now - w.last_seen):.1f} s ago",
        )
        for w in workers
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)


async def _run(worker: JobWorker, drain: bool, progress: str) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, worker)
        if drain and progress != "none":
            # Started before the worker, so no job finishes before the count.
            await tg.start(_show_progress, worker.dsn, progress)
        try:
            await worker.run()
        finally:
            tg.cancel_scope.cancel()


async def _watch_signals(worker: JobWorker) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        count = 0
        async for signum in signals:
            count += 1
            logging.getLogger("plait.durable").warning(
                "%s: got %s: %s",
                PROG,
                signal.Signals(signum).name,
                "stopping" if count == 1 else "releasing running jobs now",
            )
            worker.stop(grace=None if count == 1 else 0.0)


async def _show_progress(
    dsn: str, kind: str, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED
) -> None:
    """Show the drain's progress until cancelled, then a last frame that
    accounts for every job: finished ones by outcome, and what is left."""
    engine = await connect(dsn)
    bar = _Progress.create(kind)
    first: QueueStats | None = None
    try:
        first = await in_thread(engine.stats, now=time.time())
        task_status.started()
        while True:
            stats = await in_thread(engine.stats, now=time.time())
            finished = sum(_since(first, stats).values())
            bar.update(finished, finished + stats.pending, stats)
            await anyio.sleep(0.5)
    finally:
        # After the worker stopped: read once more, so the last frame is
        # the end state, not the last poll's.
        with anyio.CancelScope(shield=True):
            try:
                if first is None:  # the first read failed: nothing to count from
                    bar.close()
                else:
                    stats = await in_thread(engine.stats, now=time.time())
                    bar.finish(_since(first, stats), stats)
            except DatabaseUnavailableError as exc:
                bar.close()
                print(f"drain: final counts unavailable: {exc}", file=sys.stderr)
            finally:
                await in_thread(engine.close)


def _since(first: QueueStats, now: QueueStats) -> dict[str, int]:
    """Jobs that reached each final state since *first* was read."""
    return {s: now.counts[s] - first.counts[s] for s in FINISHED}


class _Progress:
    """A drain progress display: rich, tqdm, or a plain line per second."""

    @staticmethod
    def create(kind: str) -> _Progress:
        if kind in ("auto", "rich"):
            try:
                return _RichProgress()
            except ImportError:
                if kind == "rich":
                    raise
        if kind in ("auto", "tqdm"):
            try:
                return _TqdmProgress()
            except ImportError:
                if kind == "tqdm":
                    raise
        return _Progress()

    def __init__(self) -> None:
        self._last = 0.0

    def update(self, finished: int, total: int, stats: QueueStats) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        self._last = now
        c = stats.counts
        print(
            f"drain: {finished}/{total} finished; queued {c['queued']}, "
            f"retrying {c['retrying']}, running {c['running']}",
            file=sys.stderr,
            flush=True,
        )

    def finish(self, finished: dict[str, int], stats: QueueStats) -> None:
        """Draw the last frame: every job finished during the drain by
        outcome, and the jobs left (not due yet, or run by other workers)."""
        done = sum(finished.values())
        self.complete(done)
        self.close()
        c = stats.counts
        outcomes = ", ".join(f"{state} {n}" for state, n in finished.items())
        print(
            f"drain: {done}/{done} finished ({outcomes}); left: queued "
            f"{c['queued']}, retrying {c['retrying']}, running {c['running']}",
            file=sys.stderr,
            flush=True,
        )

    def complete(self, finished: int) -> None:
        """Fill the bar: *finished* of *finished*."""

    def close(self) -> None:
        pass


class _RichProgress(_Progress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress

        super().__init__()
        self._progress = Progress(console=Console(stderr=True))
        self._task = self._progress.add_task("drain", total=None)
        self._progress.start()

    def update(self, finished: int, total: int, stats: QueueStats) -> None:
        self._progress.update(self._task, completed=finished, total=total)

    def complete(self, finished: int) -> None:
        self._progress.update(self._task, completed=finished, total=finished)

    def close(self) -> None:
        self._progress.stop()


class _TqdmProgress(_Progress):
    def __init__(self) -> None:
        # Through importlib: tqdm ships no type hints.
        tqdm = importlib.import_module("tqdm").tqdm
        super().__init__()
        self._bar = tqdm(desc="drain", unit="job", file=sys.stderr)

    def update(self, finished: int, total: int, stats: QueueStats) -> None:
        self._bar.total = total
        self._bar.n = finished
        self._bar.refresh()

    def complete(self, finished: int) -> None:
        self._bar.total = self._bar.n = finished
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


if __name__ == "__main__":
    sys.exit(main())
