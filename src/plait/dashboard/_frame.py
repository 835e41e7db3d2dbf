"""What every page and action shares: settings, the backend, URLs, rendering.

Every page is one template; a GET with ``?fragment=1`` renders only its
``main`` block, which the page's script fetches to refresh itself. URLs are
built from the request's mount point, so the dashboard's links stay right
wherever it is mounted. ``guard`` keeps every failure off the page as a
traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Router

from .. import __version__
from .._jobs.durable._backend import DurableBackend
from .._jobs.durable._engine import DatabaseUnavailableError
from .._jobs.durable._rows import FINISHED, STATES
from ._render import duration, environment, static_version
from ._security import CSRFError, cookie_path, csrf_token, set_csrf_cookie

logger = logging.getLogger("plait.dashboard")

FLASH_COOKIE = "plait_flash"
REFRESH_CHOICES = (1.0, 2.0, 5.0, 15.0)
PATH_PARAMS = {
    "job": ("job_id",),
    "job_action": ("job_id", "action"),
    "static": ("path",),
}

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """How a dashboard behaves: set by ``plait.dashboard.app``."""

    read_only: bool
    refresh: float
    title: str


class NotOpenError(Exception):
    """A request came before the dashboard's lifespan opened its database."""


class PageError(Exception):
    """A request the dashboard answers with an error page (not a crash)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Frame:
    """The backend (given, or opened by the lifespan), the settings and the
    router, and the rendering every endpoint shares."""

    def __init__(
        self, backend: DurableBackend | None, settings: Settings, *, source: str
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.source = source
        self.router = Router()
        self.version = static_version()
        seconds = sorted({*REFRESH_CHOICES, settings.refresh} - {0.0})
        self.refresh_choices = tuple((f"{s:g}", duration(s)) for s in seconds)

    def require(self) -> DurableBackend:
        """The open backend; NotOpenError before the lifespan opened it."""
        if self.backend is None:
            raise NotOpenError
        return self.backend

    def url(self, request: Request, name: str, /, **params: str | None) -> str:
        """The path of route *name* under the request's mount point, with the
        rest of *params* (those not empty) as its query string."""
        path_params = {k: str(params.pop(k)) for k in PATH_PARAMS.get(name, ())}
        path = self.router.url_path_for(name, **path_params)
        root = request.scope.get("root_path", "")
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return f"{root}{path}" + (f"?{query}" if query else "")

    def static(self, request: Request, name: str) -> str:
        return self.url(request, "static", path=name) + f"?v={self.version}"

    def common(self, request: Request) -> dict[str, Any]:
        """What the frame of every page (base.html) needs."""
        return {
            "url": functools.partial(self.url, request),
            "static": functools.partial(self.static, request),
            "read_only": self.settings.read_only,
            "title": self.settings.title,
            "version": __version__,
            "source": self.source,
            "now": time.time(),
        }

    def page(
        self,
        request: Request,
        template: str,
        nav: str,
        title: str,
        *,
        only_main: bool = False,
        **context: Any,
    ) -> Response:
        """Render *template*, or only its ``main`` block (for ``?fragment=1``,
        or a template that is never a page of its own)."""
        fragment = only_main or request.query_params.get("fragment") == "1"
        query = request.url.query
        base_query = [(k, v) for k, v in request.query_params.multi_items()]
        fragment_query = urlencode([*base_query, ("fragment", "1")])
        flash = None if fragment else request.cookies.get(FLASH_COOKIE)
        values = {
            **self.common(request),
            "request_path": request.url.path + (f"?{query}" if query else ""),
            "fragment_url": f"{request.url.path}?{fragment_query}",
            "csrf": csrf_token(request),
            "refresh": f"{self.settings.refresh:g}",
            "refresh_choices": self.refresh_choices,
            "page_title": title,
            "nav": nav,
            "flash": unquote(flash) if flash else None,
            "states": STATES,
            "finished": FINISHED,
            **context,
        }
        tmpl = environment.get_template(template)
        if fragment:
            html = "".join(tmpl.blocks["main"](tmpl.new_context(values)))
        else:
            html = tmpl.render(values)
        response = HTMLResponse(html)
        set_csrf_cookie(request, response)
        if flash:
            response.delete_cookie(FLASH_COOKIE, path=cookie_path(request))
        return response

    def error_page(self, request: Request, status: int, message: str) -> Response:
        """An error as a page with the dashboard's frame and no internals
        (plain text if even that page cannot be rendered)."""
        try:
            html = environment.get_template("error.html").render(
                **self.common(request),
                status=status,
                message=message,
                page_title=f"Error {status}",
                nav="",
                flash=None,
                fragment_url="",
            )
        except Exception:
            logger.exception("dashboard: the error page failed")
            return PlainTextResponse(f"Error {status}: {message}\n", status_code=status)
        return HTMLResponse(html, status_code=status)

    def guard(self, endpoint: Endpoint) -> Endpoint:
        """Wrap *endpoint* so that no failure of the dashboard reaches the
        page as a traceback: known ones become their page, the rest a 500
        with a reference to the traceback in the ``plait.dashboard`` log."""

        @functools.wraps(endpoint)
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
