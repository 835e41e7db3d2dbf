"""The dashboard in a real browser: Debian's chromium driven by Playwright.

Each engine gets one database filled by real workers (``scenario.fill``) and
one ``plait dashboard`` subprocess serving it (SQLite on asyncio, PostgreSQL
on trio); every test opens a fresh browser context on it. A failing test
saves a screenshot of its page (the path is in the failure's notes). With
``PLAIT_DASHBOARD_SCREENSHOTS=docs/img/dashboard`` the SQLite run also
writes the screenshots the docs show (``nox -s dashboard_screenshots``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest

import plait
from dashboard_scripts.apps import HEAL, XSS_ATTR, XSS_SCRIPT, XSS_TYPE
from dashboard_scripts.scenario import Scenario, fill
from dashboard_scripts.support import (
    CHROMIUM_FLAGS,
    ROOT,
    chromium,
    environment,
    run_in_thread,
    served,
    worker,
)
from durable_scripts.support import ENGINES, make_dsn, wait_until
from plait.dashboard._render import iso

pytest.importorskip("playwright")
pytest.importorskip("hypercorn")

from playwright.sync_api import (
    Browser,
    Dialog,
    Page,
    expect,
    sync_playwright,
)

P = ParamSpec("P")
T = TypeVar("T")

APP = str(Path(__file__).parent / "dashboard_scripts" / "apps.py") + ":handlers"
ARTIFACTS = Path(os.environ.get("PLAIT_TEST_ARTIFACTS", ROOT / ".test-artifacts"))
SCREENSHOTS_ENV = "PLAIT_DASHBOARD_SCREENSHOTS"
VIEWPORT = {"width": 1280, "height": 860}


@dataclasses.dataclass(frozen=True)
class Site:
    engine: str
    dsn: str
    url: str
    jobs: Scenario


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium()
    with sync_playwright() as playwright:
        # Playwright adds --headless and a fresh --user-data-dir itself.
        flags = [flag for flag in CHROMIUM_FLAGS if flag != "--headless"]
        launched = playwright.chromium.launch(
            executable_path=path, headless=True, args=flags
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module", params=ENGINES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    engine = request.param
    database = contextlib.contextmanager(make_dsn)
    with database(engine, tmp_path_factory.mktemp(engine)) as dsn:
        jobs = fill(dsn)
        event_loop = "asyncio" if engine == "sqlite" else "trio"
        with served(dsn, "--refresh", "1", event_loop=event_loop) as url:
            yield Site(engine, dsn, url, jobs)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def screenshot_on_failure(test: Callable[P, T]) -> Callable[P, T]:
    """Save a screenshot of the test's ``page`` when the test fails; the
    failure's notes say where."""

    @functools.wraps(test)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return test(*args, **kwargs)
        except Exception as exc:
            page = kwargs.get("page")
            site = kwargs.get("site")
            if isinstance(page, Page):
                suffix = f"-{site.engine}" if isinstance(site, Site) else ""
                path = ARTIFACTS / "dashboard" / f"{test.__name__}{suffix}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    page.screenshot(path=str(path), full_page=True)
                    exc.add_note(f"screenshot of the page: {path}")
                except Exception as shot_error:  # the page itself may be gone
                    exc.add_note(f"no screenshot: {shot_error!r}")
            raise

    return wrapper


def docs_screenshot(page: Page, site: Site, name: str) -> None:
    """Write docs/img/dashboard/NAME.png when asked to (SQLite run only)."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if folder and site.engine == "sqlite":
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"))


def overview(dsn: str) -> Any:
    async def read() -> Any:
        async with plait.DurableBackend(dsn, work=False) as backend:
            return await backend.overview(max_age=0)

    return run_in_thread(read)


def schedules(dsn: str) -> list[Any]:
    async def read() -> list[Any]:
        async with plait.DurableBackend(dsn, work=False) as backend:
            return list(await backend.schedules())

    return run_in_thread(read)


def badge(page: Page) -> Any:
    return page.locator("main h1 .badge")


@screenshot_on_failure
def test_overview_shows_the_counts_and_the_workers(page: Page, site: Site) -> None:
    with worker(site.dsn, APP):
        alive = wait_until(
            lambda: overview(site.dsn).workers, timeout=30, what="a live worker"
        )
        expected = overview(site.dsn)
        page.goto(site.url + "/")
        expect(page.locator("main h1")).to_have_text("Overview")
        for state in ("queued", "running", "retrying", "done", "dead", "cancelled"):
            card = page.locator(f'.card[data-state="{state}"]')
            assert card.get_attribute("data-count") == str(expected.counts[state])
            expect(card.locator(".value")).to_have_text(f"{expected.counts[state]:,}")
        reports = page.locator("#queues tr[data-queue=reports] td")
        expect(reports.first).to_have_text(str(expected.by_queue["reports"]["queued"]))
        expect(
            page.locator(f'#workers tr[data-worker="{alive[0].name}"]')
        ).to_contain_text("reports")
        done = sum(bucket.done for bucket in expected.throughput)
        expect(page.locator(".legend .series-done")).to_have_text(f"done {done:,}")
        assert page.locator("svg.chart rect.series-done").count() >= 1
        docs_screenshot(page, site, "overview")


@screenshot_on_failure
def test_schedules_show_their_next_run(page: Page, site: Site) -> None:
    page.goto(site.url + "/")
    page.click("nav >> text=Schedules")
    rows = page.locator("#schedules tr[data-schedule]")
    expect(rows).to_have_count(2)
    hourly = page.locator('#schedules tr[data-schedule="hourly-report"]')
    expect(hourly).to_contain_text("every 1 h")
    (next_run,) = [s.next_run for s in schedules(site.dsn) if s.name == "hourly-report"]
    assert next_run is not None
    shown = hourly.locator("time").first
    expect(shown).to_have_attribute("datetime", iso(next_run))
    # Said from the time of the page, which refreshes every second: ahead of
    # it, unless an hour began since the scenario's worker stored the
    # schedule (none has run it since), or begins as the test looks.
    ahead, behind = r"in \d+ (s|min|h)\b.*", r"now|\d+ (s|min|h)\b.* ago"
    soon = next_run - time.time() < 60
    shown_as = f"{ahead}|{behind}" if soon else ahead
    expect(shown).to_have_text(re.compile(f"^({shown_as})$"))


@screenshot_on_failure
def test_filter_the_list(page: Page, site: Site) -> None:
    page.goto(site.url + "/jobs")
    page.select_option("#filters select[name=state]", "done")
    page.fill("#filters input[name=type]", "email.send")
    page.click("#filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"state=done"))
    rows = page.locator("#jobs tbody tr[data-job]")
    expect(rows).to_have_count(12)
    done = overview(site.dsn).counts["done"]
    expect(page.locator("nav.tabs a[data-state=done] .count")).to_have_text(f"{done:,}")
    for state in rows.evaluate_all("rows => rows.map(r => r.dataset.state)"):
        assert state == "done"
    page.fill("#filters input[name=key]", "welcome-user1")
    page.click("#filters button[type=submit]")
    keys = page.locator("#jobs tbody td.key").all_inner_texts()
    assert sorted(keys) == ["welcome-user1", "welcome-user10", "welcome-user11"]
    page.goto(site.url + "/jobs?state=done")
    expect(page.locator("nav.tabs a[data-state=done] .count")).to_be_visible()
    docs_screenshot(page, site, "jobs")


@screenshot_on_failure
def test_open_a_dead_job_and_see_its_error(page: Page, site: Site) -> None:
    page.goto(site.url + "/")
    page.click("nav >> text=Dead letters")
    expect(page.locator("main h1")).to_have_text("Dead letters")
    page.click(f'#jobs tr[data-job="{site.jobs.dead}"] a')
    expect(badge(page)).to_have_text("dead")
    attempts = page.locator("#attempts li")
    expect(attempts).to_have_count(2)
    expect(attempts.last).to_contain_text("ValueError")
    expect(attempts.last).to_contain_text("the mailbox of ada@example.org is full")
    expect(attempts.last.locator("pre.traceback")).to_contain_text("Traceback")
    docs_screenshot(page, site, "job")


@screenshot_on_failure
def test_retry_a_dead_job_and_see_it_done_after_a_worker_runs_it(
    page: Page, site: Site
) -> None:
    page.goto(f"{site.url}/jobs/{site.jobs.dead}")
    page.click("#retry")
    expect(page.locator("#flash")).to_contain_text("queued again")
    expect(badge(page)).to_have_text("queued")
    # A marker a reload would wipe: the page must update in place.
    page.evaluate("window.__still_here = true")
    worker = subprocess.run(
        [sys.executable, "-m", "plait", "worker", site.dsn, "--app", APP, "--drain"],
        env={**environment(), HEAL: "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    expect(badge(page)).to_have_text("done", timeout=20_000)
    assert page.evaluate("window.__still_here") is True
    expect(page.locator("#result")).to_contain_text("ada@example.org")


@screenshot_on_failure
def test_cancel_a_queued_job(page: Page, site: Site) -> None:
    target = site.jobs.future[0]
    page.goto(f"{site.url}/jobs/{target}")
    expect(badge(page)).to_have_text("queued")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel")
    expect(page.locator("#flash")).to_contain_text(f"Job {target} is cancelled")
    expect(badge(page)).to_have_text("cancelled")
    page.goto(site.url + "/jobs?state=cancelled")
    expect(page.locator(f'#jobs tr[data-job="{target}"]')).to_be_visible()


@screenshot_on_failure
def test_xss_payloads_render_as_text(page: Page, site: Site) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    for path in (
        "/",
        "/jobs?state=dead",
        f"/jobs/{site.jobs.xss}",
        "/jobs?key=probe-",
        f"/jobs?type={XSS_TYPE}",
    ):
        page.goto(site.url + path)
        expect(page.locator("main")).to_be_visible()
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("img").count() == 0, path
        assert page.locator("main script").count() == 0, path
    page.goto(f"{site.url}/jobs/{site.jobs.xss}")
    expect(page.locator("h1 .type")).to_have_text(XSS_TYPE)
    expect(page.locator("#payload")).to_contain_text(XSS_SCRIPT)
    expect(page.locator("#payload")).to_contain_text('"><img src=x onerror=')
    expect(page.locator("#facts .key")).to_have_text(f"probe-{XSS_ATTR}")
    expect(page.locator("#attempts")).to_contain_text(XSS_SCRIPT)
    # One self-refresh: the fragments swapped in are escaped too.
    page.evaluate(
        "new Promise(done => document.addEventListener("
        "'plait:refreshed', done, {once: true}))"
    )
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


@screenshot_on_failure
def test_a_post_without_the_csrf_token_is_refused(page: Page, site: Site) -> None:
    before = overview(site.dsn).counts["dead"]
    page.goto(site.url + "/jobs?state=dead")
    page.evaluate(
        "document.querySelectorAll('input[name=csrf]').forEach(i => i.remove())"
    )
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Retry all dead")
    expect(page.locator("main h1")).to_have_text("Error 403")
    expect(page.locator("#error-message")).to_contain_text("no token")
    assert overview(site.dsn).counts["dead"] == before


def test_a_failing_browser_test_leaves_a_screenshot(
    page: Page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "ARTIFACTS", tmp_path)

    @screenshot_on_failure
    def failing(page: Page) -> None:
        page.set_content("<h1>what the page showed</h1>")
        raise AssertionError("the check failed")

    with pytest.raises(AssertionError) as caught:
        failing(page=page)
    shot = tmp_path / "dashboard" / "failing.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"screenshot of the page: {shot}" in (caught.value.__notes__ or [])
