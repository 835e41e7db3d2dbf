"""Templates and the small formatting the pages share.

Every page is a Jinja2 template rendered with autoescaping on, so anything
from the database (payloads, errors, types, queue names, keys) is text in
the page, never markup. Nothing here builds HTML from strings: the
throughput chart is geometry (numbers and CSS classes) that the template
turns into SVG elements, escaped like the rest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import jinja2

HERE = Path(__file__).parent
STATIC = HERE / "static"

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def static_version() -> str:
    """A digest of the shipped CSS and JS, appended to their URLs so a
    browser never keeps a stale copy after an upgrade."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(STATIC.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ago(when: float | None, now: float | None = None) -> str:
    """Say how long ago (or how far ahead) UNIX time *when* is: ``"3 s ago"``."""
    if when is None:
        return "—"
    now = time.time() if now is None else now
    delta = now - when
    text = duration(abs(delta))
    if abs(delta) < 1:
        return "now"
    return f"{text} ago" if delta > 0 else f"in {text}"


def duration(seconds: float | None) -> str:
    """Say *seconds* in the largest unit that keeps it short: ``"4 min 10 s"``."""
    if seconds is None or math.isnan(seconds):
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s} s" if s else f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{h // 24} d {h % 24} h" if h % 24 else f"{h // 24} d"


def when(ts: float | None) -> str:
    """Format UNIX time *ts* as UTC: ``"2026-12-07 10:35:54 UTC"``."""
    if ts is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def iso(ts: float | None) -> str:
    """Format UNIX time *ts* for a ``<time datetime>`` attribute."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def count(n: int, estimated: bool = False) -> str:
    """Format a job count; an estimate to three significant digits, with ``≈``."""
    if not estimated:
        return f"{n:,}"
    digits = max(0, len(str(abs(n))) - 3)
    return f"≈ {round(n, -digits):,}"


def pretty_json(value: Any) -> str:
    """Indent a decoded JSON value for reading (non-ASCII kept as is)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


class Bucket(Protocol):
    """One minute of the throughput the overview reports."""

    @property
    def minute(self) -> float: ...
    @property
    def done(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def dead(self) -> int: ...
    @property
    def cancelled(self) -> int: ...


CHART_SERIES = ("done", "failed", "dead", "cancelled")


@dataclasses.dataclass(frozen=True, slots=True)
class Bar:
    """One stacked segment of the chart: where it is and what it says."""

    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclasses.dataclass(frozen=True, slots=True)
class Chart:
    """The throughput chart as geometry: the template draws the SVG."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    peak: int
    totals: dict[str, int]
    gridlines: tuple[tuple[float, str], ...]


def throughput_chart(
    buckets: Sequence[Bucket], *, width: int = 720, height: int = 140
) -> Chart:
    """Lay out one stacked bar per minute, oldest on the left."""
    totals: dict[str, int] = dict.fromkeys(CHART_SERIES, 0)
    # (minute, [(series, count), ...]) per bucket
    stacks: list[tuple[float, list[tuple[str, int]]]] = []
    for bucket in buckets:
        values = [(name, int(getattr(bucket, name))) for name in CHART_SERIES]
        for name, value in values:
            totals[name] += value
        stacks.append((bucket.minute, values))
    peak = max((sum(v for _, v in values) for _, values in stacks), default=0)
    scale = _nice_ceiling(peak)
    slot = width / max(1, len(stacks))
    bars: list[Bar] = []
    for index, (minute, values) in enumerate(stacks):
        label = time.strftime("%H:%M UTC", time.gmtime(minute))
        # A non-zero count stays visible (1 px at least) however tall its
        # neighbours; the stack is squeezed back into the box if that
        # overflows it.
        heights = [(n, v, max(1.0, height * v / scale)) for n, v in values if v]
        stacked = sum(h for _, _, h in heights)
        squeeze = height / stacked if stacked > height else 1.0
        y = float(height)
        for name, value, h in heights:
            h *= squeeze
            y -= h
            bars.append(
                Bar(
                    x=round(index * slot + 1, 2),
                    y=round(max(0.0, y), 2),
                    width=round(max(1.0, slot - 2), 2),
                    height=round(h, 2),
                    series=name,
                    title=f"{label}: {value:,} {name}",
                )
            )
    gridlines = tuple(
        (round(height - height * f, 2), f"{round(scale * f):,}/min") for f in (0.5, 1.0)
    )
    return Chart(width, height, tuple(bars), peak, totals, gridlines)


def _nice_ceiling(peak: int) -> int:
    """The smallest of 1, 2, 5 times 10^k at or above *peak* (at least 1)."""
    if peak <= 1:
        return 1
    magnitude = int(10 ** (len(str(peak)) - 1))
    for step in (1, 2, 5, 10):
        if step * magnitude >= peak:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def ordered(states: Iterable[str], order: Sequence[str]) -> list[str]:
    """Return *states* in the dashboard's order, unknown ones last."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(states, key=lambda s: (rank.get(s, len(rank)), s))


environment.filters.update(
    ago=ago, duration=duration, when=when, iso=iso, count=count, pretty_json=pretty_json
)
