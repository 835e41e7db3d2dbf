"""Fixtures' machinery: a fresh job database per test on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = str(Path(__file__).with_name("apps.py")) + ":handlers"
PG_ENV = "PLAIT_TEST_POSTGRES_DSN"
ENGINES = ["sqlite", "postgres"]


def postgres_dsn() -> str:
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        pytest.skip(
            f'{PG_ENV} not set: start a server with `eval "$(bash '
            '.ci/postgres.sh)"` to run the PostgreSQL tests'
        )
    return dsn


def make_engine(engine: str, tmp_path: Path) -> Iterator[Any]:
    """Yield an open engine on an empty job table; close and drop it after."""
    from plait._jobs.durable._calls import open_engine

    for dsn in make_dsn(engine, tmp_path):
        opened = open_engine(dsn)
        try:
            yield opened
        finally:
            opened.close()


def make_dsn(engine: str, tmp_path: Path) -> Iterator[str]:
    """Yield a DSN for an empty job table; drop it afterwards (PostgreSQL)."""
    if engine == "sqlite":
        yield "sqlite:///" + str(tmp_path / "jobs.db")
        return
    import psycopg

    base = postgres_dsn()
    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def wait_until(
    condition: Callable[[], Any], *, timeout: float, what: str, every: float = 0.02
) -> Any:
    """Poll *condition* until it is truthy; fail naming *what* at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


class Worker(subprocess.Popen[str]):
    """A ``plait worker`` process whose stderr goes to a file, not a pipe: a
    worker logs every failed attempt, and a pipe nobody reads while it runs
    would fill and block it."""

    log: Any
    logged: str | None = None

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Wait for the process; return its exit code and everything it logged."""
        self.wait(timeout=timeout)
        if self.logged is None:
            self.log.seek(0)
            self.logged = str(self.log.read())
            self.log.close()
        return self.returncode, self.logged


def start_worker(
    dsn: str, *args: str, backend: str = "asyncio", app: str = APP
) -> Worker:
    """Start ``plait worker`` in a subprocess (stderr kept, see ``Worker``)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    command = [
        sys.executable,
        "-m",
        "plait._jobs.durable._cli",
        "worker",
        dsn,
        "--app",
        app,
        "--backend",
        backend,
        *args,
    ]
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by finish())
    worker = Worker(command, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    worker.log = log
    return worker


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "plait._jobs.durable._cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def own_cancellation() -> BaseException:
    """A cancellation exception of the running event loop, caught and kept,
    for a handler to raise as its own (not its worker's) cancellation."""
    caught: BaseException | None = None
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep(1)
        except BaseException as exc:
            caught = exc
            raise
    assert caught is not None
    return caught
