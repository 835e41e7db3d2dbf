"""``plait jobs``: list, show, retry, cancel, delete, purge and enqueue
durable jobs, and list the schedules.

    plait jobs [DSN] list [--state S] [--type T] [--queue Q] [--key-prefix P]
                          [--limit N] [--cursor C] [--json]
    plait jobs [DSN] show ID [--json]
    plait jobs [DSN] retry ID | --dead [--type T] [--queue Q]
    plait jobs [DSN] cancel ID
    plait jobs [DSN] delete ID
    plait jobs [DSN] purge --state done|dead|cancelled --older-than DURATION
    plait jobs [DSN] schedules [--json]
    plait jobs [DSN] enqueue TYPE PAYLOAD_JSON [--queue Q] [--priority N]
                          [--not-before WHEN] [--key KEY]

The DSN comes first, as for ``plait worker``, or from ``$PLAIT_DSN``; a first
word that names a subcommand is always the subcommand, so a SQLite file
called ``list`` is written ``./list``. Only ``enqueue`` creates a database;
every other subcommand refuses a SQLite file that does not exist.

Exit status: 0 done; 1 the command could not run (database unreachable,
SQLite file missing, schema too new); 2 bad arguments; 3 no such job; 4 the
job's state does not allow it (retry of a job that is not dead or
cancelled, cancel of a finished job, delete of one that is not finished).
"""

from __future__ import annotations

import os
import sys

import anyio

from ._admin import require_database
from ._backend import DurableBackend
from ._engine import DatabaseUnavailableError, SchemaVersionError
from ._jobs_args import (
    EXIT_FAILED,
    EXIT_USAGE,
    PROG,
    SUBCOMMANDS,
    UsageError,
    build_parser,
)
from ._jobs_commands import COMMANDS, Run


def main(argv: list[str] | None = None) -> int:
    """Run ``plait jobs`` with *argv* (the words after ``jobs``); return the
    exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    dsn = None
    if words and words[0] not in SUBCOMMANDS and not words[0].startswith("-"):
        dsn, words = words[0], words[1:]
    parser = build_parser()
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a subcommand is required", file=sys.stderr)
        return EXIT_USAGE
    dsn = dsn or os.environ.get("PLAIT_DSN")
    if not dsn:
        parser.print_usage(sys.stderr)
        print(
            f"{PROG}: error: give the job database before the subcommand "
            "(plait jobs DSN list) or in $PLAIT_DSN",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        command = COMMANDS[args.command]
        prepared = command(args)
        if args.command != "enqueue":
            require_database(dsn)
        return anyio.run(_with_backend, dsn, prepared)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DatabaseUnavailableError, SchemaVersionError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILED


async def _with_backend(dsn: str, run: Run) -> int:
    async with DurableBackend(dsn, work=False) as backend:
        return await run(backend)


if __name__ == "__main__":
    sys.exit(main())
