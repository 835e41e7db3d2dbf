"""``plait jobs``'s command line: the parser, the exit statuses, and the
reading of durations, times and job ids."""

from __future__ import annotations

import argparse
import datetime

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


def build_parser() -> argparse.ArgumentParser:
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


def parse_job_id(text: str) -> str:
    if not text.isdigit():
        raise UsageError(
            f"a job id is a number as `plait jobs list` shows, got {text!r}"
        )
    return text
