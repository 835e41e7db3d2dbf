"""The dashboard tests' machinery: a served dashboard, a client, the browser."""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ENV = "PLAIT_TEST_CHROMIUM"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """Debian's chromium, or skip (fail under CI, which must have it)."""
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    if path and os.access(path, os.X_OK):
        return path
    reason = (
        "chromium not found: the browser tests need Debian's chromium "
        "(`sudo bash .ci/chromium.sh` installs it; .ci/run does)"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def run_in_thread(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``anyio.run(fn, *args)`` in a thread of its own: Playwright's sync API
    keeps an event loop running in the test's thread."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, fn, *args).result()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, *, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """GET *url* on this machine; return the status and the body."""
    host, _, rest = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request("GET", "/" + rest, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def dashboard_command(dsn: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "plait", "dashboard", dsn, *args]


def environment() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def run_dashboard(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``plait dashboard`` to completion (for its refusals)."""
    return subprocess.run(
        [sys.executable, "-m", "plait", "dashboard", *args],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def served(
    dsn: str, *args: str, event_loop: str = "asyncio", env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run ``plait dashboard`` in a subprocess; yield its URL once it answers;
    stop it with SIGTERM and check it exits 0."""
    port = free_port()
    process = subprocess.Popen(
        dashboard_command(dsn, "--port", str(port), "--event-loop", event_loop, *args),
        env={**environment(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"plait dashboard exited {process.returncode}: "
                    f"{process.stderr.read() if process.stderr else ''}"
                )
            try:
                get(url + "/static/dashboard.css")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("plait dashboard did not answer within 30 s")
                time.sleep(0.05)
        yield url
    finally:
        stderr = stop(process, "plait dashboard")
    assert process.returncode == 0, stderr


@contextmanager
def worker(dsn: str, app: str, *, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run ``plait worker DSN --app APP`` for the block; stop it with SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "plait", "worker", dsn, "--app", app],
        env={**environment(), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield
    finally:
        stderr = stop(process, "plait worker")
    assert process.returncode == 0, stderr


def stop(process: subprocess.Popen[str], what: str) -> str:
    """SIGTERM *process* (if it still runs) and return its stderr; fail if it
    does not stop within 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"{what} did not stop on SIGTERM: {process.communicate()[1]}")


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Drive an ASGI app's lifespan (startup before the block, shutdown after),
    as a server does."""
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](2)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](2)

    async def run() -> None:
        # As a server does: a lifespan that raises after reporting its
        # failure has said all there is to say.
        async with app_outbox:
            with contextlib.suppress(Exception):
                await app(
                    {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
                    app_inbox.receive,
                    app_outbox.send,
                )

    failure = None
    async with to_app, app_inbox, from_app, anyio.create_task_group() as tg:
        tg.start_soon(run)
        await to_app.send({"type": "lifespan.startup"})
        started = await from_app.receive()
        if started["type"] != "lifespan.startup.complete":
            failure = started.get("message")
        else:
            try:
                yield
            finally:
                await to_app.send({"type": "lifespan.shutdown"})
                done = await from_app.receive()
                assert done["type"] == "lifespan.shutdown.complete", done
    if failure is not None:
        raise RuntimeError(f"lifespan startup failed: {failure}")
