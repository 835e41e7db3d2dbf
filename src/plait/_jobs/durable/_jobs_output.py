"""``plait jobs``'s output: tables, a job's detail, JSON, schedules."""

from __future__ import annotations

import dataclasses
import datetime
import json
import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

from ._listing import JobDetail, JobPage
from ._rows import ScheduleRecord


def when(t: float | None) -> str:
    """A UNIX time as local ``YYYY-MM-DD HH:MM:SS``, or ``-``."""
    if t is None:
        return "-"
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def print_page(page: JobPage, again: str, *, out: TextIO) -> None:
    """Print a page of jobs as a table, and how to get the next page."""
    header = (
        "ID",
        "STATE",
        "QUEUE",
        "TYPE",
        "ATTEMPTS",
        "CREATED",
        "FINISHED",
        "ERROR",
    )
    rows = [
        (
            j.id,
            j.state,
            j.queue,
            j.type,
            f"{j.attempts}/{'-' if j.max_attempts is None else j.max_attempts}",
            when(j.created_at),
            when(j.finished_at),
            _clip(j.error_line or "", 60),
        )
        for j in page.jobs
    ]
    _table([header, *rows], out)
    if not rows:
        print("(no jobs on this page)", file=out)
    if page.next_cursor is not None:
        print(f"more: {again} --cursor {page.next_cursor}", file=out)


def print_detail(detail: JobDetail, *, out: TextIO) -> None:
    """Print a job: its fields, payload, result and every failed attempt."""
    r = detail.record
    budget = "?" if r.max_attempts is None else r.max_attempts
    lines = [
        f"job {r.id}: {r.state}",
        f"  type:      {r.type}",
        f"  queue:     {r.queue} (priority {r.priority})",
        f"  key:       {r.idempotency_key or '-'}",
        f"  attempts:  {r.attempts} of {budget}"
        + (f", {r.lost_leases} lease(s) lost" if r.lost_leases else ""),
        f"  created:   {when(r.created_at)}",
        f"  due:       {when(r.not_before)}",
        f"  started:   {when(r.started_at)}" + (f" on {r.worker}" if r.worker else ""),
        f"  finished:  {when(r.finished_at)}",
    ]
    if r.lease_owner is not None:
        lines.append(f"  lease:     {r.lease_owner} until {when(r.lease_expires)}")
    if r.cancel_requested_at is not None:
        lines.append(f"  cancel requested: {when(r.cancel_requested_at)}")
    lines += ["payload:", _indent(json.dumps(r.payload, indent=2, sort_keys=True))]
    if r.state == "done":
        lines += ["result:", _indent(json.dumps(r.result, indent=2, sort_keys=True))]
    if r.decode_error:
        lines.append(f"warning: {r.decode_error}")
    lines.append(f"failed attempts: {len(detail.attempts) or 'none'}")
    for a in detail.attempts:
        took = (
            ""
            if a.started_at is None or a.finished_at is None
            else f", {a.finished_at - a.started_at:.2f} s"
        )
        lines.append(
            f"  attempt {a.attempt}: {a.outcome} at {when(a.finished_at)}"
            f" on {a.worker or '?'}{took}"
        )
        error = f"{a.error_type}: {a.message}" if a.error_type else (a.message or "")
        if error:
            lines.append(_indent(error, 4))
        if a.traceback:
            lines.append(_indent(a.traceback.rstrip(), 4))
    print("\n".join(lines), file=out)


def page_json(page: JobPage) -> dict[str, Any]:
    return {
        "jobs": [dataclasses.asdict(j) for j in page.jobs],
        "next_cursor": page.next_cursor,
    }


def detail_json(detail: JobDetail) -> dict[str, Any]:
    return {
        "job": dataclasses.asdict(detail.record),
        "attempts": [dataclasses.asdict(a) for a in detail.attempts],
    }


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=out)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _indent(text: str, spaces: int = 2) -> str:
    return textwrap.indent(text, " " * spaces)


def print_schedules(schedules: Sequence[ScheduleRecord], *, out: TextIO) -> None:
    """Print the schedules as a table: what each enqueues and when next."""
    header = ("NAME", "TYPE", "QUEUE", "TIMING", "MISSED", "NEXT RUN", "LAST JOB")
    rows = [
        (
            s.name,
            s.type,
            s.queue,
            f"cron {s.cron} ({s.timezone})" if s.cron else f"every {s.every:g} s",
            s.missed,
            when(s.next_run),
            s.last_job_id or "-",
        )
        for s in schedules
    ]
    _table([header, *rows], out)
    if not rows:
        print("(no schedules: a worker declares its handlers' at start)", file=out)


def schedules_json(schedules: Sequence[ScheduleRecord]) -> list[dict[str, Any]]:
    """The schedules as JSON-ready dicts, every field as stored."""
    return [dataclasses.asdict(s) for s in schedules]
