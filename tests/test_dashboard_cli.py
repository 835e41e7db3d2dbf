"""``plait dashboard``: its refusals, its server on every event loop, its token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard_scripts.support import free_port, get, run_dashboard, served
from durable_scripts.support import ENGINES, make_dsn

pytest.importorskip("hypercorn")

TOKEN = "a-test-token-0123456789"


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


@pytest.fixture
def sqlite_dsn(tmp_path: Path) -> Iterator[str]:
    yield from make_dsn("sqlite", tmp_path)


def create(dsn: str) -> None:
    import anyio

    import plait

    async def go() -> None:
        async with plait.DurableBackend(dsn) as backend:
            await backend.submit(plait.Job("noop"))

    anyio.run(go)


def test_without_a_dsn_it_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAIT_DSN", raising=False)
    result = run_dashboard()
    assert result.returncode == 2
    assert "give the job database as DSN or in $PLAIT_DSN" in result.stderr


def test_a_missing_sqlite_file_is_refused_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    result = run_dashboard(str(path))
    assert result.returncode == 1
    assert "no SQLite job database" in result.stderr
    assert not path.exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_bind_beyond_loopback_needs_a_token(host: str, sqlite_dsn: str) -> None:
    create(sqlite_dsn)
    result = run_dashboard(sqlite_dsn, "--host", host)
    assert result.returncode == 2
    assert f"refusing to listen on {host}" in result.stderr
    assert "PLAIT_DASHBOARD_TOKEN" in result.stderr


def test_a_short_token_is_refused_without_being_repeated(sqlite_dsn: str) -> None:
    create(sqlite_dsn)
    result = run_dashboard(sqlite_dsn, "--token", "hunter2")
    assert result.returncode == 2
    assert "token must be a str of 16 characters or more" in result.stderr
    assert "hunter2" not in result.stderr


def test_a_taken_port_is_a_clear_failure(sqlite_dsn: str) -> None:
    import socket

    create(sqlite_dsn)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_dashboard(sqlite_dsn, "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop", "trio"])
def test_it_serves_on_every_event_loop_and_stops_on_sigterm(
    event_loop: str, dsn: str
) -> None:
    create(dsn)
    with served(dsn, event_loop=event_loop) as url:
        status, body = get(url + "/")
        assert status == 200, body
        assert 'data-state="queued" data-count="1"' in body
        status, body = get(url + "/no/such/page")
        assert status == 404
        assert "Traceback" not in body


def test_with_a_token_every_request_must_carry_it(sqlite_dsn: str) -> None:
    create(sqlite_dsn)
    with served(sqlite_dsn, env={"PLAIT_DASHBOARD_TOKEN": TOKEN}) as url:
        status, body = get(url + "/")
        assert status == 401
        assert "access token" in body
        assert get(url + "/?token=wrong-token-0123456789")[0] == 401
        status, _ = get(url + f"/?token={TOKEN}")
        assert status == 303
        status, body = get(url + "/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        cookie = f"plait_token={TOKEN}"
        assert get(url + "/jobs", headers={"Cookie": cookie})[0] == 200


def test_free_port_is_free() -> None:
    import socket

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
