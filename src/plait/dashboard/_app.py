"""``plait.dashboard.app``: the dashboard as a Starlette (ASGI) application."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .._core._checks import check_bool, check_number
from .._jobs.durable._admin import require_database
from .._jobs.durable._backend import DurableBackend
from .._jobs.durable._engine import redact
from ._actions import Actions
from ._frame import Frame, Settings
from ._pages import Pages
from ._render import STATIC
from ._security import SecurityHeaders, TokenGate

CALL = "plait.dashboard.app()"


def app(
    source: str | DurableBackend,
    *,
    read_only: bool = False,
    token: str | None = None,
    refresh: float = 2.0,
    title: str = "plait jobs",
) -> Starlette:
    """Return the dashboard of a durable job queue as an ASGI application.

    Serve it on its own (``plait dashboard DSN`` does, with hypercorn on
    asyncio or trio; any ASGI server will, given a module holding
    ``dashboard = plait.dashboard.app(DSN)``), or mount it in your
    Starlette or FastAPI application, where it is behind that application's
    authentication: ``app.mount("/jobs", plait.dashboard.app(backend))``.

    With a DSN the dashboard opens its own ``DurableBackend(dsn,
    work=False)`` in the ASGI lifespan and closes it at shutdown; a SQLite
    file that does not exist is refused (the dashboard never creates a
    database). A mounted app gets no lifespan of its own (Starlette runs only
    the outer one), so there pass the ``DurableBackend`` your application
    already enters: the dashboard uses it while it is open and answers 503
    before.

    Pages: an overview (counts per state and queue, throughput over the
    last hour, live workers, the oldest queued job's age), the jobs list
    with filters and keyset pages, a job with its attempts, dead letters,
    and schedules; each refreshes itself every *refresh* seconds (the
    viewer can change it) without reloading. Actions (retry a dead or
    cancelled job, cancel a queued or running one, delete a finished one,
    the same for selected jobs, retry or delete every dead job) are POSTs
    checked against cross-site request forgery; every value from the
    database is escaped. A failure of the dashboard itself shows an error
    page with a reference, and its traceback goes to the ``plait.dashboard``
    logger, never to the page.

    Args:
        source: the job database's DSN (as for ``plait worker``), or a
            ``DurableBackend`` that the caller enters and leaves.
        read_only: hide every action and refuse their POSTs (403).
        token: if given, every request must carry it: ``?token=...`` once
            (then a cookie), or ``Authorization: Bearer ...``.
        refresh: seconds between a page's refreshes by default (0: off).
        title: shown in the header and the browser tab.

    Raises:
        TypeError, ValueError: a bad argument, naming it.

    Example:
        >>> from starlette.applications import Starlette
        >>> from starlette.routing import Mount
        >>> import plait, plait.dashboard
        >>> backend = plait.DurableBackend("jobs.db", work=False)
        >>> site = Starlette(routes=[Mount("/jobs", plait.dashboard.app(backend))])
    """
    if not isinstance(source, (str, DurableBackend)):
        raise TypeError(
            f"{CALL} source must be a DSN str or a DurableBackend, got {source!r}"
        )
    check_bool(CALL, "read_only", read_only)
    refresh = check_number(
        CALL, "refresh", refresh, maximum=3600.0, unit="a number of seconds"
    )
    check_token(CALL, token)
    if not isinstance(title, str):
        raise TypeError(f"{CALL} title must be a str, got {title!r}")

    owned = isinstance(source, str)
    dsn = source if isinstance(source, str) else source.dsn
    settings = Settings(read_only=read_only, refresh=refresh, title=title)
    given = source if isinstance(source, DurableBackend) else None
    frame = Frame(given, settings, source=redact(dsn))
    pages, actions = Pages(frame), Actions(frame)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncGenerator[None, None]:
        if not owned:
            yield
            return
        require_database(dsn)
        async with DurableBackend(dsn, work=False) as backend:
            frame.backend = backend
            try:
                yield
            finally:
                frame.backend = None

    g = frame.guard
    post = ["POST"]
    routes = [
        Route("/", g(pages.overview), name="overview"),
        Route("/jobs", g(pages.jobs), name="jobs"),
        Route("/counts", g(pages.counts), name="counts"),
        Route("/jobs/{job_id}", g(pages.job), name="job"),
        Route("/schedules", g(pages.schedules), name="schedules"),
        Route(
            "/jobs/{job_id}/{action}",
            g(actions.job_action),
            methods=post,
            name="job_action",
        ),
        Route("/actions/bulk", g(actions.bulk), methods=post, name="bulk"),
        Route(
            "/actions/retry-dead",
            g(actions.retry_dead),
            methods=post,
            name="retry_dead",
        ),
        Route(
            "/actions/purge-dead",
            g(actions.purge_dead),
            methods=post,
            name="purge_dead",
        ),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if token is not None:
        middleware.append(Middleware(TokenGate, token=token))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return frame.error_page(request, exc.status_code, exc.detail)

    site = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
    frame.router = site.router
    return site


def check_token(call: str, token: object) -> None:
    """Refuse a token that is not a str of 16 characters or more, without
    repeating it (an error message ends up in logs)."""
    rule = "a str of 16 characters or more (say, secrets.token_urlsafe())"
    if token is None:
        return
    if not isinstance(token, str):
        raise TypeError(f"{call} token must be {rule}, got a {type(token).__name__}")
    if len(token) < 16:
        raise ValueError(f"{call} token must be {rule}, got {len(token)} characters")
