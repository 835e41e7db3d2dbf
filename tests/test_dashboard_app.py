"""``plait.dashboard.app`` in process: pages, actions, modes and mounting.

Requests go through the ASGI app with httpx, on every event loop, against a
real job database (SQLite here; the browser tests cover both engines).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import plait
from dashboard_scripts.support import lifespan

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Mount  # noqa: E402

import plait.dashboard  # noqa: E402

BASE = "http://dashboard.test"


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[plait.DurableBackend]:
    async with plait.DurableBackend(str(tmp_path / "jobs.db"), work=False) as opened:
        yield opened


def client(app: Any, **kwargs: Any) -> Any:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, **kwargs
    )


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, "the page has no action form"
    return match[1]


async def test_every_page_renders(backend: plait.DurableBackend) -> None:
    [job_id] = await backend.submit_many([plait.Job("email.send", {"to": "a"})])
    async with client(plait.dashboard.app(backend)) as http:
        for path in (
            "/",
            "/jobs",
            "/jobs?state=queued",
            f"/jobs/{job_id}",
            "/schedules",
        ):
            response = await http.get(path)
            assert response.status_code == 200, (path, response.text)
            assert "<main" in response.text
        fragment = await http.get("/jobs?fragment=1")
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert f'data-job="{job_id}"' in fragment.text


async def test_estimated_counts_are_marked_and_explained(
    backend: plait.DurableBackend,
) -> None:
    from plait._jobs.durable._overview import COUNT_BOUND

    await backend.submit_many([plait.Job("t") for _ in range(COUNT_BOUND + 1)])
    overview = await backend.overview(max_age=0)
    assert "queued" in overview.estimated  # the premise: past the bound
    async with client(plait.dashboard.app(backend)) as http:
        page = (await http.get("/")).text
        tabs = (await http.get("/counts")).text
    queued = re.search(
        r'data-state="queued" data-count="(\d+)">\s*<span class="label">'
        r'queued</span>\s*<span class="value">([^<]+)</span>',
        page,
    )
    assert queued
    assert queued[2].startswith("≈ ")
    assert f"past {COUNT_BOUND:,} jobs in a state" in page
    assert 'id="estimate-note"' in page
    assert re.search(r'data-state="queued">queued <span class="count">≈ ', tabs)
    assert re.search(r'data-state="dead">dead <span class="count">0<', tabs)


async def test_the_jobs_list_loads_its_tab_counts_apart(
    backend: plait.DurableBackend,
) -> None:
    await backend.submit_many([plait.Job("t") for _ in range(3)])
    async with client(plait.dashboard.app(backend)) as http:
        page = (await http.get("/jobs?state=queued&type=t")).text
        found = re.search(r'data-counts="([^"]+)"', page)
        assert found
        assert 'class="count"' not in page
        counts = (await http.get(found[1].replace("&amp;", "&"))).text
    assert counts.startswith('<nav class="tabs"')
    assert "data-counts" not in counts
    assert re.search(r'data-state="queued">queued <span class="count">3</span>', counts)
    assert 'href="/jobs?state=dead&amp;type=t"' in counts


async def test_responses_carry_the_security_headers(
    backend: plait.DurableBackend,
) -> None:
    async with client(plait.dashboard.app(backend)) as http:
        response = await http.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    cookie = response.headers["set-cookie"]
    assert "plait_csrf=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie


async def test_an_action_needs_the_pages_token_and_origin(
    backend: plait.DurableBackend,
) -> None:
    job_id = await backend.submit(plait.Job("email.send", {"to": "a"}))
    async with client(plait.dashboard.app(backend)) as http:
        page = await http.get(f"/jobs/{job_id}")
        token = csrf_of(page.text)
        url = f"/jobs/{job_id}/cancel"
        missing = await http.post(url, data={"next": "/"})
        assert missing.status_code == 403
        wrong = await http.post(url, data={"csrf": "x" * 43})
        assert wrong.status_code == 403
        foreign = await http.post(
            url, data={"csrf": token}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert "another site" in foreign.text
        assert (await backend.get(job_id)).state == "queued"  # type: ignore[union-attr]
        ok = await http.post(
            url,
            data={"csrf": token, "next": f"/jobs/{job_id}"},
            headers={"Origin": BASE},
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == f"/jobs/{job_id}"
        shown = await http.get(ok.headers["location"])
        assert f"Job {job_id} is cancelled" in shown.text
    assert (await backend.get(job_id)).state == "cancelled"  # type: ignore[union-attr]


async def test_a_redirect_never_leaves_the_dashboard(
    backend: plait.DurableBackend,
) -> None:
    job_id = await backend.submit(plait.Job("t"))
    async with client(plait.dashboard.app(backend)) as http:
        token = csrf_of((await http.get(f"/jobs/{job_id}")).text)
        for target in ("https://evil.example/", "//evil.example/", "jobs"):
            response = await http.post(
                f"/jobs/{job_id}/retry", data={"csrf": token, "next": target}
            )
            assert response.headers["location"] == f"/jobs/{job_id}"


async def test_read_only_hides_actions_and_refuses_their_posts(
    backend: plait.DurableBackend,
) -> None:
    job_id = await backend.submit(plait.Job("t"))
    async with client(plait.dashboard.app(backend, read_only=True)) as http:
        for path in ("/", "/jobs?state=dead", "/jobs", f"/jobs/{job_id}"):
            text = (await http.get(path)).text
            assert 'method="post"' not in text, path
            assert "read-only" in text
        refused = await http.post(f"/jobs/{job_id}/cancel", data={"csrf": "x"})
        assert refused.status_code == 403
        assert "read-only" in refused.text
    assert (await backend.get(job_id)).state == "queued"  # type: ignore[union-attr]


async def test_bulk_actions_report_each_outcome(backend: plait.DurableBackend) -> None:
    ids = await backend.submit_many([plait.Job("t") for _ in range(3)])
    async with client(plait.dashboard.app(backend)) as http:
        token = csrf_of((await http.get("/jobs")).text)
        response = await http.post(
            "/actions/bulk",
            data={"csrf": token, "action": "cancel", "ids": [*ids, "999999"]},
            follow_redirects=True,
        )
    assert "Cancel 4: 3 cancelled; 1 not found." in response.text
    for job_id in ids:
        assert (await backend.get(job_id)).state == "cancelled"  # type: ignore[union-attr]


async def test_mounted_under_a_prefix_its_links_and_cookies_stay_there(
    backend: plait.DurableBackend,
) -> None:
    job_id = await backend.submit(plait.Job("t"))
    site = Starlette(routes=[Mount("/ops/jobs", plait.dashboard.app(backend))])
    async with client(site) as http:
        response = await http.get("/ops/jobs/")
        assert response.status_code == 200
        assert 'href="/ops/jobs/jobs"' in response.text
        assert "/ops/jobs/static/dashboard.css?v=" in response.text
        assert "Path=/ops/jobs" in response.headers["set-cookie"]
        css = await http.get("/ops/jobs/static/dashboard.css")
        assert css.status_code == 200
        page = await http.get(f"/ops/jobs/jobs/{job_id}")
        token = csrf_of(page.text)
        done = await http.post(
            f"/ops/jobs/jobs/{job_id}/cancel",
            data={"csrf": token, "next": f"/ops/jobs/jobs/{job_id}"},
        )
        assert done.headers["location"] == f"/ops/jobs/jobs/{job_id}"


async def test_with_a_dsn_it_opens_its_backend_in_the_lifespan(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    async with plait.DurableBackend(str(path)) as backend:
        await backend.submit(plait.Job("t"))
    app = plait.dashboard.app(f"sqlite:///{path}")
    async with client(app) as http:
        before = await http.get("/")
        assert before.status_code == 503
        assert "not open" in before.text
        async with lifespan(app):
            page = await http.get("/")
            assert 'data-state="queued" data-count="1"' in page.text
        assert (await http.get("/")).status_code == 503


async def test_with_a_dsn_a_missing_sqlite_file_fails_the_startup(
    tmp_path: Path,
) -> None:
    path = tmp_path / "typo.db"
    with pytest.raises(RuntimeError, match="no SQLite job database"):
        async with lifespan(plait.dashboard.app(str(path))):
            pass
    assert not path.exists()


async def test_a_failure_shows_a_reference_never_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A backend the application forgot to enter: every call fails.
    backend = plait.DurableBackend(str(tmp_path / "jobs.db"), work=False)
    async with client(plait.dashboard.app(backend)) as http:
        with caplog.at_level(logging.ERROR, logger="plait.dashboard"):
            response = await http.get("/")
    assert response.status_code == 500
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    reference = re.search(r"reference ([0-9a-f]{8})", response.text)
    assert reference
    [record] = [r for r in caplog.records if r.name == "plait.dashboard"]
    assert reference[1] in record.getMessage()
    assert record.exc_info is not None


async def test_bad_input_is_a_page_not_a_crash(backend: plait.DurableBackend) -> None:
    async with client(plait.dashboard.app(backend)) as http:
        bad_state = await http.get("/jobs?state=<b>nope</b>")
        assert bad_state.status_code == 400
        assert "&lt;b&gt;nope&lt;/b&gt;" in bad_state.text
        bad_cursor = await http.get("/jobs?cursor=garbage")
        assert bad_cursor.status_code == 400
        assert (await http.get("/jobs/12345")).status_code == 404
        assert (await http.get("/jobs/abc")).status_code == 404
        assert (await http.get("/nope")).status_code == 404


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"source": 3}, TypeError, "source must be a DSN str or a DurableBackend"),
        ({"read_only": "yes"}, TypeError, "read_only must be a bool"),
        ({"refresh": -1}, ValueError, "refresh must be a number of seconds"),
        ({"token": "short"}, ValueError, "token must be a str of 16 characters"),
    ],
)
def test_bad_arguments_name_the_argument(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"source": "jobs.db", **kwargs}
    with pytest.raises(error, match=f"plait.dashboard.app\\(\\) {message}"):
        plait.dashboard.app(**arguments)
