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

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio

from .._model import Job
from ._admin import require_database
from ._backend import DurableBackend
from ._engine import DatabaseUnavailableError, SchemaVersionError
from ._jobs_output import (
    detail_json,
    page_json,
    print_detail,
    print_page,
    print_schedules,
    schedules_json,
)
from ._rows import STATES

PROG = "plait jobs"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_JOB, EXIT_REFUSED = 0, 1, 2, 3, 4
SUBCOMMANDS = (
    "list",
    "show",
    "retry",
    "cancel",
    "delete",
    "purge",
    "enqueue",
    "schedules",
)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class UsageError(ValueError):
    """Bad arguments found after parsing (exit 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run ``plait jobs`` with *argv* (the words after ``jobs``); return the
    exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    dsn = None
    if words and words[0] not in SUBCOMMANDS and not words[0].startswith("-"):
        dsn, words = words[0], words[1:]
    parser = _parser()
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
        command = _COMMANDS[args.command]
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


Run = Callable[[DurableBackend], Awaitable[int]]


async def _with_backend(dsn: str, run: Run) -> int:
    async with DurableBackend(dsn, work=False) as backend:
        return await run(backend)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} [DSN]",
        description="Inspect and manage the jobs of a durable plait queue. "
        "DSN: sqlite:///path/jobs.db, a path, or postgresql://...; "
        "default: $PLAIT_DSN.",
        epilog="Exit status: 0 done, 1 could not run (database unreachable or "
        "missing), 2 bad arguments, 3 no such job, 4 the job's state does not "
        "allow it.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = sub.add_parser("list", help="list jobs, newest first")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--type", help="job type, exactly")
    listing.add_argument("--queue", help="queue name, exactly")
    listing.add_argument("--key-prefix", help="idempotency keys starting with it")
    listing.add_argument("--limit", type=int, default=50, metavar="N")
    listing.add_argument("--cursor", help="the next page's cursor, as printed")
    listing.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="a job's payload, attempts and result")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    retry = sub.add_parser("retry", help="queue dead or cancelled jobs again")
    retry.add_argument("id", nargs="?")
    retry.add_argument("--dead", action="store_true", help="every dead job")
    retry.add_argument("--type", help="with --dead: of this type only")
    retry.add_argument("--queue", help="with --dead: in this queue only")
    cancel = sub.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("id")
    delete = sub.add_parser("delete", help="delete a finished job and its history")
    delete.add_argument("id")
    purge = sub.add_parser("purge", help="delete old finished jobs")
    purge.add_argument("--state", choices=("done", "dead", "cancelled"), required=True)
    purge.add_argument(
        "--older-than",
        required=True,
        metavar="DURATION",
        help="finished before this long ago: 7d, 12h, 30m, 90s or seconds",
    )
    enqueue = sub.add_parser("enqueue", help="submit a job")
    enqueue.add_argument("type")
    enqueue.add_argument("payload", metavar="PAYLOAD_JSON", help="a JSON object")
    enqueue.add_argument("--queue")
    enqueue.add_argument("--priority", type=int, default=0)
    enqueue.add_argument(
        "--not-before",
        metavar="WHEN",
        help="ISO 8601 time (local if no offset), UNIX seconds, or +DURATION",
    )
    enqueue.add_argument("--key", help="idempotency key")
    schedules = sub.add_parser("schedules", help="the schedules and their next run")
    schedules.add_argument("--json", action="store_true")
    return parser


def parse_duration(text: str) -> float:
    """Return seconds for ``7d``, ``12h``, ``30m``, ``90s``, ``1w`` or ``3600``."""
    value = text.strip().lower()
    unit = UNITS.get(value[-1:])
    number = value[:-1] if unit is not None else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise UsageError(
            f"a duration must be a number of seconds or one with a unit "
            f"(7d, 12h, 30m, 90s, 1w), got {text!r}"
        )
    return seconds


def parse_when(text: str, now: float) -> float:
    """Return the UNIX time *text* names: ISO 8601, UNIX seconds or +DURATION."""
    if text.startswith("+"):
        return now + parse_duration(text[1:])
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            "--not-before must be an ISO 8601 time (2030-01-31T09:00+01:00), "
            f"UNIX seconds, or +DURATION (+10m), got {text!r}"
        ) from None
    return moment.astimezone().timestamp()


def _refuse(message: str, status: int) -> int:
    """Say on stderr why the command did nothing; return its exit status."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


def _job_id(text: str) -> str:
    if not text.isdigit():
        raise UsageError(
            f"a job id is a number as `plait jobs list` shows, got {text!r}"
        )
    return text


# Each command checks its arguments, then returns what runs on the backend.


def _list(args: argparse.Namespace) -> Run:
    if not 1 <= args.limit <= 1000:
        raise UsageError(f"--limit must be 1 to 1000, got {args.limit}")

    async def run(backend: DurableBackend) -> int:
        try:
            page = await backend.list_jobs(
                state=args.state,
                type=args.type,
                queue=args.queue,
                key_prefix=args.key_prefix,
                limit=args.limit,
                cursor=args.cursor,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if args.json:
            print(json.dumps(page_json(page), sort_keys=True))
        else:
            print_page(page, _again(args), out=sys.stdout)
        return EXIT_OK

    return run


def _again(args: argparse.Namespace) -> str:
    """The command line that lists the next page (without the DSN)."""
    words = ["plait jobs list"]
    for flag in ("state", "type", "queue", "key_prefix", "limit"):
        value = getattr(args, flag)
        if value is not None and not (flag == "limit" and value == 50):
            words.append(f"--{flag.replace('_', '-')} {value}")
    return " ".join(words)


def _show(args: argparse.Namespace) -> Run:
    job_id = _job_id(args.id)

    async def run(backend: DurableBackend) -> int:
        detail = await backend.inspect(job_id)
        if detail is None:
            return _refuse(f"no job with id {job_id}", EXIT_NO_JOB)
        if args.json:
            print(json.dumps(detail_json(detail), sort_keys=True))
        else:
            print_detail(detail, out=sys.stdout)
        return EXIT_OK

    return run


def _retry(args: argparse.Namespace) -> Run:
    if args.dead == (args.id is not None):
        raise UsageError("give a job ID or --dead (not both)")
    if not args.dead and (args.type or args.queue):
        raise UsageError("--type and --queue go with --dead")
    job_id = None if args.id is None else _job_id(args.id)

    async def run(backend: DurableBackend) -> int:
        if job_id is None:
            count = await backend.retry_dead(type=args.type, queue=args.queue)
            what = "".join(
                f" {w} {v!r}"
                for w, v in (("of type", args.type), ("in queue", args.queue))
                if v
            )
            print(f"queued again {count} dead job(s){what}")
            return EXIT_OK
        return await _act(
            backend,
            backend.retry,
            job_id,
            f"job {job_id} queued again",
            "only dead or cancelled jobs can be retried",
        )

    return run


def _cancel(args: argparse.Namespace) -> Run:
    job_id = _job_id(args.id)

    async def run(backend: DurableBackend) -> int:
        before = await backend.get(job_id)
        try:
            state = await backend.cancel(job_id)
        except KeyError:
            return _refuse(f"no job with id {job_id}", EXIT_NO_JOB)
        if state == "running":
            print(
                f"job {job_id}: cancellation requested; its worker cancels it "
                "within a third of its lease and it ends cancelled"
            )
            return EXIT_OK
        if state == "cancelled" and before is not None and before.state != state:
            print(f"job {job_id} cancelled: it will not run")
            return EXIT_OK
        return _refuse(
            f"job {job_id} already finished ({state}): nothing to cancel",
            EXIT_REFUSED,
        )

    return run


def _purge(args: argparse.Namespace) -> Run:
    seconds = parse_duration(args.older_than)

    async def run(backend: DurableBackend) -> int:
        count = await backend.purge(state=args.state, older_than=seconds)
        age = args.older_than.strip()
        unit = "" if age[-1:].isalpha() else " s"
        print(f"purged {count} {args.state} job(s) finished over {age}{unit} ago")
        return EXIT_OK

    return run


def _delete(args: argparse.Namespace) -> Run:
    job_id = _job_id(args.id)

    async def run(backend: DurableBackend) -> int:
        return await _act(
            backend,
            backend.delete,
            job_id,
            f"job {job_id} deleted",
            "only finished jobs (done, dead, cancelled) can be deleted; "
            "cancel it first",
        )

    return run


async def _act(
    backend: DurableBackend,
    action: Callable[[str], Awaitable[bool]],
    job_id: str,
    done: str,
    rule: str,
) -> int:
    """Run *action* on one job: say *done*, or why not (no such job; its
    state breaks *rule*); return the exit status."""
    try:
        if await action(job_id):
            print(done)
            return EXIT_OK
    except KeyError:
        return _refuse(f"no job with id {job_id}", EXIT_NO_JOB)
    record = await backend.get(job_id)
    state = "gone" if record is None else record.state
    return _refuse(f"job {job_id} is {state}: {rule}", EXIT_REFUSED)


def _schedules(args: argparse.Namespace) -> Run:
    async def run(backend: DurableBackend) -> int:
        found = await backend.schedules()
        if args.json:
            print(json.dumps(schedules_json(found), sort_keys=True))
        else:
            print_schedules(found, out=sys.stdout)
        return EXIT_OK

    return run


def _enqueue(args: argparse.Namespace) -> Run:
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        raise UsageError(f"PAYLOAD_JSON is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise UsageError(f"PAYLOAD_JSON must be a JSON object, got {args.payload}")
    not_before = (
        None if args.not_before is None else parse_when(args.not_before, time.time())
    )
    try:
        job = Job(
            args.type,
            cast("dict[str, Any]", payload),  # a JSON object: its keys are str
            priority=args.priority,
            not_before=not_before,
            idempotency_key=args.key,
            queue=args.queue,
        )
    except (TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None

    async def run(backend: DurableBackend) -> int:
        print(await backend.submit(job))
        return EXIT_OK

    return run


_COMMANDS: dict[str, Callable[[argparse.Namespace], Run]] = {
    "list": _list,
    "show": _show,
    "retry": _retry,
    "cancel": _cancel,
    "delete": _delete,
    "purge": _purge,
    "enqueue": _enqueue,
    "schedules": _schedules,
}


if __name__ == "__main__":
    sys.exit(main())
