"""The dashboard's pages and actions, each a thin call of the admin API.

Every page is one template; a GET with ``?fragment=1`` renders only its
``main`` block, which the page's script fetches to refresh itself. Every
action is a POST checked for its CSRF token, refused in read-only mode, and
answered with a redirect back to the page it came from, carrying a one-line
message (the ``plait_flash`` cookie) that the next page shows once.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, unquote, urlencode

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Router

from .. import __version__
from .._jobs.durable._engine import DatabaseUnavailableError
from ._render import (
    CHART_SERIES,
    duration,
    environment,
    ordered,
    static_version,
    throughput_chart,
)
from ._security import CSRFError, check_csrf, cookie_path, csrf_token, set_csrf_cookie

logger = logging.getLogger("plait.dashboard")

STATES = ("queued", "running", "retrying", "done", "dead", "cancelled")
FINISHED = ("done", "dead", "cancelled")
CANCELLABLE = ("queued", "retrying", "running")
RETRYABLE = ("dead", "cancelled")
FLASH_COOKIE = "plait_flash"
PAGE_SIZE = 50
# Past this many jobs in a state the admin API estimates its counts.
EXACT_LIMIT = 10_000
MAX_BULK = 1000
# An action's form holds at most a page of job ids and a few fields.
MAX_BODY = 64 * 1024
REFRESH_CHOICES = (1.0, 2.0, 5.0, 15.0)
PATH_PARAMS = {
    "job": ("job_id",),
    "job_action": ("job_id", "action"),
    "static": ("path",),
}

Endpoint = Callable[[Request], Awaitable[Response]]

# The mount point of the request being rendered, for `url` in templates: a
# context variable, so concurrent requests under different prefixes (one app
# mounted twice) never see each other's.
_ROOT: ContextVar[str] = ContextVar("plait_dashboard_root", default="")


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """How a dashboard behaves: set by ``plait.dashboard.app``."""

    read_only: bool
    refresh: float
    title: str


class Holder:
    """Where the views find the backend: given, or opened by the lifespan."""

    def __init__(self, backend: Any, *, owned: bool) -> None:
        self.backend = backend
        self.owned = owned
        self.name = ""

    def require(self) -> Any:
        if self.backend is None:
            raise NotOpenError
        return self.backend


class NotOpenError(Exception):
    """A request came before the dashboard's lifespan opened its database."""


class PageError(Exception):
    """A request the dashboard answers with an error page (not a crash)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Views:
    """The endpoints, sharing the backend holder, the settings and the router
    (for URLs that stay right under whatever prefix the app is mounted at)."""

    def __init__(self, holder: Holder, settings: Settings) -> None:
        self.holder = holder
        self.settings = settings
        self.router: Router | None = None
        self.version = static_version()
        seconds = sorted({*REFRESH_CHOICES, settings.refresh} - {0.0})
        self.refresh_choices = tuple((f"{s:g}", duration(s)) for s in seconds)

    # -- pages ---------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        ov = await self.holder.require().overview()
        counts = {state: ov.counts.get(state, 0) for state in STATES}
        queues = {
            queue: {state: per.get(state, 0) for state in STATES}
            for queue, per in sorted(ov.by_queue.items())
        }
        return self.page(
            request,
            "overview.html",
            "overview",
            "Overview",
            ov=ov,
            counts=counts,
            estimated=frozenset(ov.estimated),
            queues=queues,
            chart=throughput_chart(ov.throughput),
            exact_limit=EXACT_LIMIT,
            series=CHART_SERIES,
        )

    async def jobs(self, request: Request) -> Response:
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
        cursor = query.get("cursor") or None
        backend = self.holder.require()
        try:
            page = await backend.list_jobs(
                state=filters["state"],
                type=filters["type"],
                queue=filters["queue"],
                key_prefix=filters["key"],
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        except ValueError as exc:
            raise PageError(400, str(exc)) from None
        ov = await backend.overview()
        active = {k: v for k, v in filters.items() if v is not None}
        return self.page(
            request,
            "jobs.html",
            "dead" if filters["state"] == "dead" else "jobs",
            "Dead letters" if filters["state"] == "dead" else "Jobs",
            page=page,
            filters=filters,
            active=active,
            cursor=cursor,
            counts=ov.counts,
            estimated=frozenset(ov.estimated),
            page_size=PAGE_SIZE,
        )

    async def job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        detail = None
        if job_id.isdigit():
            detail = await self.holder.require().inspect(job_id)
        if detail is None:
            raise PageError(
                404, f"there is no job {job_id!r} (it may have been purged)"
            )
        record = detail.record
        return self.page(
            request,
            "job.html",
            "jobs",
            f"Job {record.id}",
            job=record,
            attempts=detail.attempts,
            can_retry=record.state in RETRYABLE,
            can_cancel=record.state in CANCELLABLE and not record.cancel_requested_at,
            can_delete=record.state in FINISHED,
        )

    async def schedules(self, request: Request) -> Response:
        rows = await self.holder.require().schedules()
        return self.page(
            request,
            "schedules.html",
            "schedules",
            "Schedules",
            schedules=sorted(rows, key=lambda s: (s.next_run, s.name)),
        )

    # -- actions -------------------------------------------------------------

    async def job_action(self, request: Request) -> Response:
        form = await self.action_form(request)
        job_id = request.path_params["job_id"]
        action = request.path_params["action"]
        message = await self.act(action, job_id)
        return self.back(
            request, form, message, fallback=self.url("job", job_id=job_id)
        )

    async def bulk(self, request: Request) -> Response:
        form = await self.action_form(request)
        action = str(form.get("action", ""))
        ids = [str(i) for i in form.getlist("ids")][:MAX_BULK]
        if not ids:
            return self.back(request, form, "No jobs selected.")
        outcomes: dict[str, int] = {}
        for job_id in ids:
            outcome = await self.act(action, job_id, quiet=True)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = "; ".join(f"{n} {what}" for what, n in outcomes.items())
        return self.back(request, form, f"{action.capitalize()} {len(ids)}: {summary}.")

    async def retry_dead(self, request: Request) -> Response:
        form = await self.action_form(request)
        type_ = str(form.get("type") or "") or None
        queue = str(form.get("queue") or "") or None
        n = await self.holder.require().retry_dead(type=type_, queue=queue)
        scope = " ".join(
            part
            for part in (
                f"of type {type_}" if type_ else "",
                f"in {queue}" if queue else "",
            )
            if part
        )
        return self.back(
            request,
            form,
            f"Queued {n:,} dead job{'s' * (n != 1)} {scope}".rstrip() + ".",
        )

    async def purge_dead(self, request: Request) -> Response:
        form = await self.action_form(request)
        n = await self.holder.require().purge(state="dead", older_than=0.0)
        return self.back(request, form, f"Deleted {n:,} dead job{'s' * (n != 1)}.")

    async def act(self, action: str, job_id: str, *, quiet: bool = False) -> str:
        """Retry, cancel or delete one job; say what happened (in a few words
        if *quiet*)."""
        backend = self.holder.require()
        if not job_id.isdigit():
            return "not found" if quiet else f"There is no job {job_id!r}."
        try:
            if action == "retry":
                if await backend.retry(job_id):
                    return "queued again" if quiet else f"Job {job_id} is queued again."
                return (
                    "not dead or cancelled"
                    if quiet
                    else f"Job {job_id} was not retried: only dead or cancelled "
                    "jobs can be."
                )
            if action == "cancel":
                state = await backend.cancel(job_id)
                if state == "cancelled":
                    return "cancelled" if quiet else f"Job {job_id} is cancelled."
                if state == "running":
                    return (
                        "cancellation requested"
                        if quiet
                        else f"Job {job_id} is running: its worker was asked to "
                        "cancel it (within a third of its lease)."
                    )
                return (
                    f"already {state}" if quiet else f"Job {job_id} is already {state}."
                )
            if action == "delete":
                if await backend.delete(job_id):
                    return "deleted" if quiet else f"Job {job_id} is deleted."
                return (
                    "not finished"
                    if quiet
                    else f"Job {job_id} was not deleted: it has not finished "
                    "(cancel it first)."
                )
        except KeyError:
            return "not found" if quiet else f"There is no job {job_id}."
        raise PageError(404, f"no action {action!r}")

    async def action_form(self, request: Request) -> FormData:
        """Read an action's form: refused in read-only mode, or without the
        page's CSRF token."""
        if self.settings.read_only:
            raise PageError(403, "this dashboard is read-only: actions are turned off")
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise PageError(
                413, f"an action's form must state its length, up to {MAX_BODY:,} bytes"
            )
        form = await request.form(max_files=0, max_fields=MAX_BULK + 16)
        check_csrf(request, form)
        return form

    def back(
        self,
        request: Request,
        form: Mapping[str, Any],
        message: str,
        *,
        fallback: str | None = None,
    ) -> Response:
        """Redirect to the page the action came from, with *message*."""
        target = str(form.get("next") or "")
        root = request.scope.get("root_path", "")
        if not target.startswith(root + "/") or target.startswith("//"):
            target = fallback or self.url("overview")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            FLASH_COOKIE,
            quote(message[:500]),
            path=cookie_path(request),
            httponly=True,
            samesite="strict",
        )
        return response

    # -- rendering -----------------------------------------------------------

    def url(self, name: str, /, **params: str) -> str:
        """The path of route *name* under this app's mount point, with the
        rest of *params* as its query string."""
        assert self.router is not None
        path_params = {k: params.pop(k) for k in PATH_PARAMS.get(name, ())}
        path = self.router.url_path_for(name, **path_params)
        root = _root_path()
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return f"{root}{path}" + (f"?{query}" if query else "")

    def page(
        self, request: Request, template: str, nav: str, title: str, **context: Any
    ) -> Response:
        """Render *template* (or its ``main`` block for ``?fragment=1``)."""
        token = _ROOT.set(request.scope.get("root_path", ""))
        try:
            fragment = request.query_params.get("fragment") == "1"
            here = request.url.path + (
                f"?{request.url.query}" if request.url.query else ""
            )
            base_query = [(k, v) for k, v in request.query_params.multi_items()]
            fragment_query = urlencode([*base_query, ("fragment", "1")])
            flash = None if fragment else request.cookies.get(FLASH_COOKIE)
            values = {
                "request_path": here,
                "fragment_url": f"{request.url.path}?{fragment_query}",
                "url": self.url,
                "static": self.static,
                "csrf": csrf_token(request),
                "read_only": self.settings.read_only,
                "refresh": f"{self.settings.refresh:g}",
                "refresh_choices": self.refresh_choices,
                "title": self.settings.title,
                "page_title": title,
                "nav": nav,
                "now": time.time(),
                "version": __version__,
                "source": self.holder.name,
                "flash": unquote(flash) if flash else None,
                "states": STATES,
                "finished": FINISHED,
                "ordered": ordered,
                **context,
            }
            tmpl = environment.get_template(template)
            if fragment:
                html = "".join(tmpl.blocks["main"](tmpl.new_context(values)))
            else:
                html = tmpl.render(values)
        finally:
            _ROOT.reset(token)
        response = HTMLResponse(html)
        set_csrf_cookie(request, response)
        if flash:
            response.delete_cookie(FLASH_COOKIE, path=cookie_path(request))
        return response

    def static(self, name: str) -> str:
        return self.url("static", path=name) + f"?v={self.version}"

    def error_page(self, request: Request, status: int, message: str) -> Response:
        """An error as a page with the dashboard's frame and no internals
        (plain text if even that page cannot be rendered)."""
        token = _ROOT.set(request.scope.get("root_path", ""))
        try:
            html = environment.get_template("error.html").render(
                status=status,
                message=message,
                url=self.url,
                static=self.static,
                title=self.settings.title,
                page_title=f"Error {status}",
                nav="",
                read_only=self.settings.read_only,
                flash=None,
                refresh="0",
                refresh_choices=(),
                fragment_url="",
                version=__version__,
                source=self.holder.name,
            )
        except Exception:
            logger.exception("dashboard: the error page failed")
            return PlainTextResponse(f"Error {status}: {message}\n", status_code=status)
        finally:
            _ROOT.reset(token)
        return HTMLResponse(html, status_code=status)

    def guard(self, endpoint: Endpoint) -> Endpoint:
        """Wrap *endpoint* so that no failure of the dashboard reaches the
        page as a traceback: known ones become their page, the rest a 500
        with a reference to the traceback in the ``plait.dashboard`` log."""

        async def guarded(request: Request) -> Response:
            try:
                return await endpoint(request)
            except PageError as exc:
                return self.error_page(request, exc.status, exc.message)
            except CSRFError as exc:
                return self.error_page(request, 403, f"Refused: {exc}.")
            except NotOpenError:
                return self.error_page(
                    request,
                    503,
                    "The dashboard's job database is not open. It opens in the "
                    "ASGI lifespan, which a mounted app does not get: pass the "
                    "DurableBackend your application enters to "
                    "plait.dashboard.app(backend) instead of a DSN.",
                )
            except DatabaseUnavailableError as exc:
                return self.error_page(request, 503, str(exc))
            except HTTPException:
                raise
            except Exception:
                reference = secrets.token_hex(4)
                logger.exception(
                    "dashboard: %s %s failed (reference %s)",
                    request.method,
                    request.url.path,
                    reference,
                )
                return self.error_page(
                    request,
                    500,
                    "The dashboard failed to answer this request. The error is in "
                    f"the server's log under reference {reference}.",
                )

        return guarded


def _root_path() -> str:
    return _ROOT.get()
