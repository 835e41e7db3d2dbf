"""``plait jobs``'s commands: each checks its arguments, then returns what
runs on the backend, which prints its result and returns the exit status."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from .._model import Job
from ._backend import DurableBackend
from ._jobs_args import (
    EXIT_NO_JOB,
    EXIT_OK,
    EXIT_REFUSED,
    PROG,
    UsageError,
    parse_duration,
    parse_job_id,
    parse_when,
)
from ._jobs_output import (
    detail_json,
    page_json,
    print_detail,
    print_page,
    print_schedules,
    schedules_json,
)

Run = Callable[[DurableBackend], Awaitable[int]]


def _refuse(message: str, status: int) -> int:
    """Say on stderr why the command did nothing; return its exit status."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


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
    job_id = parse_job_id(args.id)

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
    job_id = None if args.id is None else parse_job_id(args.id)

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
    job_id = parse_job_id(args.id)

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
    job_id = parse_job_id(args.id)

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


COMMANDS: dict[str, Callable[[argparse.Namespace], Run]] = {
    "list": _list,
    "show": _show,
    "retry": _retry,
    "cancel": _cancel,
    "delete": _delete,
    "purge": _purge,
    "enqueue": _enqueue,
    "schedules": _schedules,
}
