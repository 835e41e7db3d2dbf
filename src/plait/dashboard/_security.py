"""What keeps the dashboard's actions to the people meant to take them.

- **Cross-site request forgery**: every action is a POST that must carry the
  token of the ``plait_csrf`` cookie (SameSite=Strict, HttpOnly) in its form
  field ``csrf`` or its ``X-CSRF-Token`` header (a double-submit token: a
  page on another site can make the browser send the cookie, never read it
  to copy it into the form), and a POST whose ``Origin`` header names
  another site is refused even with the token.
- **Access token** (``token=``; required by ``plait dashboard`` for a bind
  beyond loopback): a request is let in with ``Authorization: Bearer
  TOKEN``, or the ``plait_token`` cookie, which a first visit to
  ``...?token=TOKEN`` sets before redirecting to the same page without it.
- **Headers**: a Content-Security-Policy that allows only the dashboard's
  own script and stylesheet (no inline script runs, even one that slipped
  past escaping), no framing, no MIME sniffing.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "plait_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_COOKIE = "plait_token"
TOKEN_PARAM = "token"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


class CSRFError(Exception):
    """A POST without the page's token, or from another site."""


def is_loopback(host: str) -> bool:
    """Whether binding *host* listens only on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_path(request: HTTPConnection) -> str:
    """The dashboard's mount point, so its cookies go to its pages only."""
    root = request.scope.get("root_path", "")
    return root if root else "/"


def csrf_token(request: Request) -> str:
    """The token this browser's forms carry: its cookie's, or a new one that
    ``set_csrf_cookie`` stores with the response."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) != 43:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Store a token made for this request in the browser."""
    token = getattr(request.state, "new_csrf", None)
    if token is not None:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            path=cookie_path(request),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def check_csrf(request: Request, form: Mapping[str, object]) -> None:
    """Raise CSRFError unless the POST carries this browser's token and, when
    it names its origin, comes from this site."""
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        raise CSRFError(f"a form from another site ({origin}) was refused")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not sent or not isinstance(sent, str):
        raise CSRFError("the form carries no token: reload the page and try again")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CSRFError("the form's token is not this page's: reload and try again")


def _own_origin(request: Request) -> str:
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}"


class SecurityHeaders:
    """ASGI middleware: the dashboard's security headers on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TokenGate:
    """ASGI middleware: only requests carrying *token* reach the dashboard.

    A wrong or missing token is a 401 that says how to pass one; the
    comparison takes the same time whatever the guess.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        conn = HTTPConnection(scope)
        given = conn.query_params.get(TOKEN_PARAM)
        if given is not None and self._matches(given):
            await self._remember(conn)(scope, receive, send)
            return
        bearer = conn.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and self._matches(bearer[7:]):
            await self.app(scope, receive, send)
            return
        if self._matches(conn.cookies.get(TOKEN_COOKIE, "")):
            await self.app(scope, receive, send)
            return
        response = PlainTextResponse(
            "This plait dashboard needs its access token: open the URL "
            "`plait dashboard` printed (it ends in ?token=...), or send "
            "`Authorization: Bearer TOKEN`.\n",
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _matches(self, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token)

    def _remember(self, conn: HTTPConnection) -> Response:
        """Set the token cookie and redirect to the URL without the token, so
        it does not stay in the address bar, the history or a Referer."""
        query = [(k, v) for k, v in parse_qsl(conn.url.query) if k != TOKEN_PARAM]
        target = conn.url.replace(query=urlencode(query))
        response = RedirectResponse(str(target), status_code=303)
        response.set_cookie(
            TOKEN_COOKIE,
            self.token.decode(),
            path=cookie_path(conn),
            httponly=True,
            samesite="strict",
            secure=conn.url.scheme == "https",
        )
        return response
