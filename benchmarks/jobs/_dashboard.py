"""Dashboard pages: server time per page, rendered through the ASGI app in process.

Run as part of the admin case (``python -m benchmarks.jobs --only admin``),
on the table it fills.

Each page is requested by calling ``plait.dashboard.app(backend)`` directly
with an ASGI scope (no socket, no HTTP client), so the time is the server's:
the admin API's queries, the template, the response. Two figures per page:

- **cold**: a new ``DurableBackend`` and a new app per request, so nothing is
  cached: the overview and the tab counts read the table again. Before the
  clock starts, its connection answers one page that does not read the
  overview (a server's connection is not new). This is the figure the
  100 ms target is about.
- **warm**: the same app again and again, as a browser polling the page sees
  it (the overview's figures are cached for 2 s by the admin API).

Every response is checked: status 200 and the page's own marker in the body.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import plait

WARM_UP = "/jobs?state=running"
MARKERS = {
    "overview": 'data-state="queued"',
    "jobs": 'id="jobs"',
    "job": 'id="payload"',
    "counts": 'class="count"',
}


async def request(app: Any, path: str) -> tuple[int, str]:
    """GET *path* from the ASGI *app*; return the status and the body."""
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench.local")],
        "client": ("127.0.0.1", 1),
        "server": ("bench.local", 80),
    }
    status = 0
    body: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body).decode()


async def _pages(backend: plait.DurableBackend) -> dict[str, tuple[str, str]]:
    """The pages to time, by label: (path, marker kind)."""
    first = await backend.list_jobs(limit=50)
    dead = await backend.list_jobs(state="dead", limit=1)
    pages = {
        "overview": ("/", "overview"),
        "jobs, all (page 1)": ("/jobs", "jobs"),
        "a jobs page's tab counts (/counts)": ("/counts", "counts"),
        "jobs, queued": ("/jobs?state=queued", "jobs"),
        "jobs, dead": ("/jobs?state=dead", "jobs"),
    }
    if first.next_cursor:
        pages["jobs, all (page 2)"] = (f"/jobs?cursor={first.next_cursor}", "jobs")
    if dead.jobs:
        pages["a dead job"] = (f"/jobs/{dead.jobs[0].id}", "job")
    return pages


async def page_records(
    dsn: str, engine: str, total: int, *, repeats: int
) -> list[dict[str, Any]]:
    """Time every page *repeats* times cold and warm; one record per page."""
    import plait.dashboard

    async with plait.DurableBackend(dsn, work=False) as backend:
        pages = await _pages(backend)
        warm_app = plait.dashboard.app(backend)
        records = []
        for label, (path, kind) in pages.items():
            cold: list[float] = []
            warm: list[float] = []
            for _ in range(repeats):
                async with plait.DurableBackend(dsn, work=False) as fresh:
                    app = plait.dashboard.app(fresh)
                    # A server's connection is not new: let this one answer
                    # a page that does not read the overview first.
                    await request(app, WARM_UP)
                    started = time.perf_counter()
                    status, body = await request(app, path)
                    cold.append(time.perf_counter() - started)
                _check(label, path, status, body, kind)
            await request(warm_app, path)
            for _ in range(repeats):
                started = time.perf_counter()
                status, body = await request(warm_app, path)
                warm.append(time.perf_counter() - started)
                _check(label, path, status, body, kind)
            records.append(
                {
                    "case": "dashboard",
                    "engine": engine,
                    "jobs": total,
                    "page": label,
                    "path": path,
                    "cold_median": statistics.median(cold),
                    "cold_max": max(cold),
                    "warm_median": statistics.median(warm),
                    "bytes": len(body),
                }
            )
    return records


def _check(label: str, path: str, status: int, body: str, kind: str) -> None:
    if status != 200 or MARKERS[kind] not in body:
        raise AssertionError(
            f"dashboard page {label} ({path}) answered {status} without its "
            f"content: {body[:300]!r}"
        )


def line(record: dict[str, Any]) -> str:
    """One record as the harness logs it."""
    return (
        f"dashboard {record['engine']}, {record['jobs']:,} jobs, {record['page']}: "
        f"cold median {record['cold_median'] * 1e3:.1f} ms (max "
        f"{record['cold_max'] * 1e3:.1f}), warm {record['warm_median'] * 1e3:.1f} ms"
    )


def markdown(records: list[dict[str, Any]], engines: dict[str, str]) -> list[str]:
    """The dashboard's table for the performance page (no lines without
    dashboard records)."""
    rows = [r for r in records if r["case"] == "dashboard"]
    if not rows:
        return []
    by_page: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_page.setdefault(r["page"], {})[r["engine"]] = r
    shown = [e for e in engines if any(e in v for v in by_page.values())]
    total = rows[0]["jobs"]
    out = [
        "### The dashboard",
        "",
        "Server time of each dashboard page (in milliseconds) with "
        f"{total:,} jobs in the table, rendered through the ASGI app in this "
        "process (`plait.dashboard.app`, no socket): the admin API's queries, "
        "the template and the response. *Cold*: a new backend and app per "
        "request, so nothing is cached (its connection first answers one "
        "page that reads no counts); the figure the 100 ms budget is "
        "about. *Warm*: the same app again, as a polling browser sees it "
        "(the overview's figures cached for 2 s). A jobs page comes without the "
        "counts on its state tabs: its script fetches them from `/counts` "
        "(the overview's figures) once the list is shown.",
        "",
        "| page | "
        + " | ".join(f"{engines[e]} cold (max) | {engines[e]} warm" for e in shown)
        + " |",
        "|---|" + "--:|--:|" * len(shown),
    ]
    for page, by_engine in by_page.items():
        cells = []
        for engine in shown:
            found = by_engine.get(engine)
            if found is None:
                cells += ["n/a", "n/a"]
                continue
            cells.append(
                f"{found['cold_median'] * 1e3:.1f} ({found['cold_max'] * 1e3:.1f})"
            )
            cells.append(f"{found['warm_median'] * 1e3:.1f}")
        out.append(f"| {page} | " + " | ".join(cells) + " |")
    return [*out, ""]
