"""The dashboard's formatting: counts, times, durations, JSON and the chart."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("jinja2")

from plait.dashboard._render import (
    CHART_SERIES,
    ago,
    count,
    duration,
    environment,
    pretty_json,
    throughput_chart,
    when,
)


@dataclasses.dataclass
class Minute:
    minute: float
    done: int = 0
    failed: int = 0
    dead: int = 0
    cancelled: int = 0


def test_count_marks_estimates_and_rounds_them() -> None:
    assert count(1234) == "1,234"
    assert count(1234, estimated=False) == "1,234"
    assert count(1_234_567, estimated=True) == "≈ 1,230,000"
    assert count(987, estimated=True) == "≈ 987"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250 ms"),
        (5, "5 s"),
        (60, "1 min"),
        (250, "4 min 10 s"),
        (3600, "1 h"),
        (3 * 3600 + 120, "3 h 2 min"),
        (3 * 86400, "3 d"),
        (None, "—"),
    ],
)
def test_duration_reads_like_a_person_would_say_it(
    seconds: float | None, text: str
) -> None:
    assert duration(seconds) == text


def test_ago_says_past_future_and_now() -> None:
    assert ago(100.0, now=130.0) == "30 s ago"
    assert ago(200.0, now=130.0) == "in 1 min 10 s"
    assert ago(130.2, now=130.0) == "now"
    assert ago(None) == "—"
    assert when(0.0) == "1970-01-01 00:00:00 UTC"


def test_pretty_json_keeps_text_as_text() -> None:
    assert pretty_json({"a": "<é>"}) == '{\n  "a": "<é>"\n}'
    assert pretty_json({1, 2}).startswith("{")  # not JSON: its repr, not a crash


@given(
    st.lists(
        st.tuples(*(st.integers(0, 10_000) for _ in CHART_SERIES)),
        min_size=0,
        max_size=60,
    )
)
def test_chart_bars_stack_inside_the_box_and_sum_to_the_totals(
    minutes: list[tuple[int, ...]],
) -> None:
    buckets = [Minute(60.0 * i, *values) for i, values in enumerate(minutes)]
    chart = throughput_chart(buckets, width=600, height=100)
    for name, index in zip(CHART_SERIES, range(4), strict=True):
        assert chart.totals[name] == sum(values[index] for values in minutes)
    assert chart.peak == max((sum(v) for v in minutes), default=0)
    for bar in chart.bars:
        assert bar.height > 0
        assert bar.y >= -0.01
        assert bar.y + bar.height <= 100.01
        assert bar.x >= 0
        assert bar.x + bar.width <= 600.01
    # One segment per non-zero value: nothing drawn for nothing, nothing lost.
    assert len(chart.bars) == sum(1 for values in minutes for v in values if v)


def test_templates_escape_everything_by_default() -> None:
    template = environment.from_string("<p title='{{ v }}'>{{ v }}</p>")
    html = template.render(v="\"'><script>alert(1)</script>")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&#34;&#39;&gt;" in html
