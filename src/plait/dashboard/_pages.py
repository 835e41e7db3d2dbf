"""The dashboard's pages, each one or two calls of the admin API."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request
from starlette.responses import Response

from .._jobs.durable._overview import COUNT_BOUND
from .._jobs.durable._rows import FINISHED, STATES, AttemptRecord, JobState
from .._jobs.durable._schema import split_error
from ._frame import Frame, PageError
from ._render import CHART_SERIES, throughput_chart

PAGE_SIZE = 50
CANCELLABLE = ("queued", "retrying", "running")
RETRYABLE = ("dead", "cancelled")


class Pages:
    """The GET endpoints: overview, jobs, a job, schedules."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame

    async def overview(self, request: Request) -> Response:
        ov = await self.frame.require().overview()
        counts = {state: ov.counts.get(state, 0) for state in STATES}
        queues = {
            queue: {state: per.get(state, 0) for state in STATES}
            for queue, per in sorted(ov.by_queue.items())
        }
        return self.frame.page(
            request,
            "overview.html",
            "overview",
            "Overview",
            ov=ov,
            counts=counts,
            estimated=frozenset(ov.estimated),
            queues=queues,
            chart=throughput_chart(ov.throughput),
            exact_limit=COUNT_BOUND,
            series=CHART_SERIES,
        )

    def filters(self, request: Request) -> dict[str, str | None]:
        """The jobs list's filters from the query string (blank = none)."""
        query = request.query_params
        filters = {
            name: (query.get(name) or "").strip() or None
            for name in ("state", "type", "queue", "key")
        }
        if filters["state"] is not None and filters["state"] not in STATES:
            raise PageError(
                400,
                f"state must be one of {', '.join(STATES)}, got {filters['state']!r}",
            )
        return filters

    async def jobs(self, request: Request) -> Response:
        filters = self.filters(request)
        cursor = request.query_params.get("cursor") or None
        backend = self.frame.require()
        try:
            page = await backend.list_jobs(
                state=cast("JobState | None", filters["state"]),
                type=filters["type"],
                queue=filters["queue"],
                key_prefix=filters["key"],
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        except ValueError as exc:
            raise PageError(400, str(exc)) from None
        dead = filters["state"] == "dead"
        return self.frame.page(
            request,
            "jobs.html",
            "dead" if dead else "jobs",
            "Dead letters" if dead else "Jobs",
            page=page,
            filters=filters,
            active={k: v for k, v in filters.items() if v is not None},
            cursor=cursor,
            page_size=PAGE_SIZE,
        )

    async def counts(self, request: Request) -> Response:
        """The state tabs of a jobs page with their counts (from the overview,
        cached), which the page loads after it is shown."""
        ov = await self.frame.require().overview()
        return self.frame.page(
            request,
            "tabs.html",
            "jobs",
            "Counts",
            only_main=True,
            counts=ov.counts,
            estimated=frozenset(ov.estimated),
            filters=self.filters(request),
        )

    async def job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        detail = None
        if job_id.isdigit():
            detail = await self.frame.require().inspect(job_id)
        if detail is None:
            raise PageError(
                404, f"there is no job {job_id!r} (it may have been purged)"
            )
        record = detail.record
        return self.frame.page(
            request,
            "job.html",
            "jobs",
            f"Job {record.id}",
            job=record,
            attempts=[(a, *error_of(a)) for a in detail.attempts],
            can_retry=record.state in RETRYABLE,
            can_cancel=record.state in CANCELLABLE and not record.cancel_requested_at,
            can_delete=record.state in FINISHED,
        )

    async def schedules(self, request: Request) -> Response:
        rows = await self.frame.require().schedules()
        return self.frame.page(
            request,
            "schedules.html",
            "schedules",
            "Schedules",
            schedules=sorted(rows, key=lambda s: (s.next_run, s.name)),
        )


def error_of(attempt: AttemptRecord) -> tuple[str | None, str | None]:
    """An attempt's exception type and message; read off its traceback's
    last line when they were not stored apart (a migrated first-release row
    has only the traceback)."""
    if attempt.error_type or attempt.message:
        return attempt.error_type, attempt.message
    if attempt.traceback:
        return split_error(attempt.traceback)
    return None, None
