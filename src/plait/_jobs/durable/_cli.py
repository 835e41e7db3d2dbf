"""``plait worker``: run, inspect or drain a durable job queue from a shell.

    plait worker DSN --app myapp.jobs:handlers [--concurrency 10]
    plait worker DSN --status [--json]
    plait worker DSN --app myapp.jobs:handlers --drain

SIGTERM or SIGINT stops claiming, lets running jobs finish within
``--grace`` seconds and releases the rest; a second signal releases at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import anyio

from ._admin import require_database
from ._drain_progress import show_progress
from ._engine import DatabaseUnavailableError, SchemaVersionError
from ._worker import JobWorker
from ._worker_options import (
    PROG,
    backend_options,
    build_parser,
    load_handlers,
    parse_queues,
)
from ._worker_status import print_status, read_status


def main(argv: list[str] | None = None) -> int:
    """Run ``plait worker`` with *argv* (without the program name); return the
    exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["worker"]:
        args_list = args_list[1:]
    parser = build_parser()
    args = parser.parse_args(args_list)
    dsn = args.dsn or os.environ.get("PLAIT_DSN")
    if not dsn:
        parser.error("give the job database as DSN or in $PLAIT_DSN")
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    backend, options = backend_options(args.backend)
    if args.status:
        try:
            # Looking must not create: a typo names no database.
            require_database(dsn)
            stats, workers = anyio.run(
                read_status, dsn, backend=backend, backend_options=options
            )
        except (DatabaseUnavailableError, SchemaVersionError) as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 1
        print_status(stats, workers, json_out=args.json, out=sys.stdout)
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


async def _run(worker: JobWorker, drain: bool, progress: str) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(_watch_signals, worker)
        if drain and progress != "none":
            # Started before the worker, so no job finishes before the count.
            await tg.start(show_progress, worker.dsn, progress)
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


if __name__ == "__main__":
    sys.exit(main())
