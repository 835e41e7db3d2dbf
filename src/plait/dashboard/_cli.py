"""``plait dashboard``: serve the job queue's dashboard with hypercorn.

    plait dashboard [DSN] [--host 127.0.0.1] [--port 8000] [--read-only]
                    [--token TOKEN] [--event-loop asyncio|uvloop|trio]

The DSN is given as for ``plait worker`` (an argument, else ``$PLAIT_DSN``);
a SQLite file that does not exist is refused, never created. The server
listens on 127.0.0.1 unless told otherwise, and refuses an address other
machines can reach unless a token is set (``--token`` or, better, since a
command line is visible to every user of the machine,
``$PLAIT_DASHBOARD_TOKEN``). SIGINT or SIGTERM stops it: open requests get a
few seconds to finish. Exit codes: 0 stopped by a signal, 1 failed to run
(database unreachable, SQLite file missing, the port taken, the extra not
installed), 2 a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, cast

import anyio

from .._core._event_loop import run

if TYPE_CHECKING:
    from hypercorn.config import Config
    from starlette.types import ASGIApp

PROG = "plait dashboard"
TOKEN_ENV = "PLAIT_DASHBOARD_TOKEN"
NEEDS = ("starlette", "jinja2", "multipart", "hypercorn")


def main(argv: list[str] | None = None) -> int:
    """Run ``plait dashboard`` with *argv* (the words after ``dashboard``);
    return the exit code."""
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    dsn = args.dsn or os.environ.get("PLAIT_DSN")
    if not dsn:
        parser.error("give the job database as DSN or in $PLAIT_DSN")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    from ._security import is_loopback

    if not is_loopback(args.host) and token is None:
        parser.error(
            f"refusing to listen on {args.host}, which other machines can "
            f"reach, without an access token: anyone who reaches the port "
            f"could read payloads and retry or delete jobs. Set one, e.g. "
            f'`export {TOKEN_ENV}="$(python -c '
            f"'import secrets; print(secrets.token_urlsafe())')\"`, or keep "
            f"the default --host 127.0.0.1"
        )
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"{PROG}: needs the dashboard extra (missing {', '.join(missing)}): "
            "pip install 'plait[dashboard]'",
            file=sys.stderr,
        )
        return 1
    from ._app import check_token

    try:
        check_token(PROG, token)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        run(_serve, dsn, args, token, backend=args.event_loop)
    except KeyboardInterrupt:  # pragma: no cover - a signal before the watcher
        return 0
    except Failed as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0


class Failed(Exception):
    """The dashboard could not start; the message says why."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve the web dashboard of a durable plait job queue.",
        epilog=f"The access token may also come from ${TOKEN_ENV} (safer than "
        "--token, which other users of the machine can see in the process list).",
    )
    parser.add_argument(
        "dsn",
        nargs="?",
        help="sqlite:///path/jobs.db, a path, or postgresql://...; default: $PLAIT_DSN",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="default: 8000")
    parser.add_argument(
        "--read-only", action="store_true", help="hide and refuse every action"
    )
    parser.add_argument("--token", help=f"access token (or ${TOKEN_ENV})")
    parser.add_argument(
        "--refresh",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="pages refresh themselves this often by default (0: off)",
    )
    parser.add_argument(
        "--event-loop", choices=("asyncio", "uvloop", "trio"), default="asyncio"
    )
    parser.add_argument(
        "--access-log", action="store_true", help="log every request to stderr"
    )
    parser.add_argument("--log-level", default="warning")
    return parser


async def _serve(dsn: str, args: argparse.Namespace, token: str | None) -> None:
    from hypercorn.config import Config

    from .._jobs.durable._admin import require_database
    from .._jobs.durable._backend import DurableBackend
    from .._jobs.durable._engine import DatabaseUnavailableError
    from ._app import app

    async with contextlib.AsyncExitStack() as stack:
        try:
            require_database(dsn)
            backend = await stack.enter_async_context(DurableBackend(dsn, work=False))
        except DatabaseUnavailableError as exc:
            raise Failed(str(exc)) from None
        site = app(backend, read_only=args.read_only, token=token, refresh=args.refresh)
        _check_bind(args.host, args.port)
        config = Config()
        host = f"[{args.host}]" if ":" in args.host else args.host
        config.bind = [f"{host}:{args.port}"]
        config.accesslog = "-" if args.access_log else None
        config.graceful_timeout = 3.0
        shown = socket.gethostname() if args.host in ("0.0.0.0", "::") else host
        url = f"http://{shown}:{args.port}/" + (f"?token={token}" if token else "")
        mode = " (read-only)" if args.read_only else ""
        print(
            f"{PROG}: serving {url}{mode} on {args.event_loop}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        stop = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_watch_signals, stop)
                await _hypercorn(args.event_loop)(
                    site, config, shutdown_trigger=stop.wait
                )
                tg.cancel_scope.cancel()
        except* OSError as group:
            raise Failed(
                f"cannot listen on {host}:{args.port}: {group.exceptions[0]}"
            ) from None


def _check_bind(host: str, port: int) -> None:
    """Fail clearly if *host*:*port* cannot be bound, before hypercorn starts
    (it starts the app's lifespan first, and a bind error then leaves it
    half-started, with a page of asyncio noise)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise Failed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class Serve(Protocol):
    """How this command calls hypercorn's ``serve`` (asyncio's and trio's)."""

    def __call__(
        self,
        app: ASGIApp,
        config: Config,
        *,
        shutdown_trigger: Callable[[], Awaitable[object]],
    ) -> Awaitable[None]: ...


def _hypercorn(event_loop: str) -> Serve:
    """hypercorn's serve for the event loop we run on (trio has its own)."""
    module = "hypercorn.trio" if event_loop == "trio" else "hypercorn.asyncio"
    # Typed at this boundary: hypercorn annotates its WSGI app type with a
    # bare dict and Callable (unknown to a strict checker), and its ASGI
    # scopes are TypedDicts a Starlette app's Mapping-typed scope does not accept.
    return cast(Serve, importlib.import_module(module).serve)


async def _watch_signals(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            logging.getLogger("plait.dashboard").warning(
                "%s: got %s: stopping", PROG, signal.Signals(signum).name
            )
            stop.set()
            return
