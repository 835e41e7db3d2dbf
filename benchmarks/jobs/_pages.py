"""Dashboard pages: server time per page, rendered through the ASGI app in process.

Each page is requested by calling ``plait.dashboard.app(backend)`` directly
with an ASGI scope (no socket, no HTTP client), so the time is the server's:
the admin API's queries, the template, the response. Two figures per page:

- **cold**: a new ``DurableBackend`` (connected before the clock starts) and
  a new app per request, so nothing is cached: the overview and the state
  tabs read the table again. This is the figure the 100 ms target is about.
- **warm**: the same app again and again, as a browser polling the page sees
  it (the overview's figures are cached for 2 s by the admin API).

Every response is checked: status 200 and the page's own marker in the body.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import plait

MARKERS = {
    "overview": 'data-state="queued"',
    "jobs": 'id="jobs"',
    "job": 'id="payload"',
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
        "jobs, queued": ("/jobs?state=queued", "jobs"),
        "jobs, dead": ("/jobs?state=dead", "jobs"),
    }
    if first.next_cursor:
        pages["jobs, all (page 2)"] = (f"/jobs?cursor={first.next_cursor}", "jobs")
    if dead.jobs:
        pages["a dead job"] = (f"/jobs/{dead.jobs[0].id}", "job")
    return pages


async def time_pages(dsn: str, *, rounds: int) -> list[dict[str, Any]]:
    """Time every page *rounds* times cold and warm; return one record each."""
    import plait.dashboard

    async with plait.DurableBackend(dsn, work=False) as backend:
        pages = await _pages(backend)
        warm_app = plait.dashboard.app(backend)
        records = []
        for label, (path, kind) in pages.items():
            cold: list[float] = []
            warm: list[float] = []
            for _ in range(rounds):
                async with plait.DurableBackend(dsn, work=False) as fresh:
                    app = plait.dashboard.app(fresh)
                    started = time.perf_counter()
                    status, body = await request(app, path)
                    cold.append(time.perf_counter() - started)
                _check(label, path, status, body, kind)
            await request(warm_app, path)
            for _ in range(rounds):
                started = time.perf_counter()
                status, body = await request(warm_app, path)
                warm.append(time.perf_counter() - started)
                _check(label, path, status, body, kind)
            records.append(
                {
                    "page": label,
                    "path": path,
                    "cold_ms": _ms(cold),
                    "warm_ms": _ms(warm),
                    "rounds": rounds,
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


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median": round(statistics.median(ordered) * 1000, 2),
        "p95": round(p95 * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


def markdown(records_by_engine: dict[str, list[dict[str, Any]]], total: int) -> str:
    """The dashboard table: one row per page, cold and warm per engine."""
    engines = list(records_by_engine)
    head = "| page | " + " | ".join(
        f"{e} cold median / p95 (ms) | {e} warm median (ms)" for e in engines
    )
    lines = [
        f"Dashboard pages with {total:,} jobs in the table: server time per "
        "request through the ASGI app in process (cold: a new backend and app, "
        "nothing cached; warm: the overview's 2 s cache in use).",
        "",
        head + " |",
        "|---|" + "---:|---:|" * len(engines),
    ]
    labels = [r["page"] for r in next(iter(records_by_engine.values()), [])]
    for label in labels:
        cells = []
        for engine in engines:
            found = [r for r in records_by_engine[engine] if r["page"] == label]
            if not found:
                cells += ["—", "—"]
                continue
            r = found[0]
            cells.append(f"{r['cold_ms']['median']:.1f} / {r['cold_ms']['p95']:.1f}")
            cells.append(f"{r['warm_ms']['median']:.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
