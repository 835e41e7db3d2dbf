"""Fixtures' machinery: a fresh job database per test on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


def start_worker(
    dsn: str, *args: str, backend: str = "asyncio", app: str = APP
) -> subprocess.Popen[str]:
    """Start ``plait worker`` in a subprocess (stderr captured)."""
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
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


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
