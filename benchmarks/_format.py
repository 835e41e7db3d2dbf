"""Formatting helpers shared by the report, the targets and the plot."""

from __future__ import annotations

from functools import cache

from .cases import load

Interval = tuple[float, float, float] | None


@cache
def labels(family: str) -> dict[str, tuple[str, str]]:
    """Return ``{variant: (label, role)}`` for *family*."""
    return {v.name: (v.label, v.role) for v in load(family).variants}


def fmt_ratio(ratio: Interval) -> str:
    """Format ``1.04x [0.97-1.12]``."""
    if ratio is None:
        return "—"
    point, lo, hi = ratio
    return f"{point:.2f}x\u00a0[{lo:.2f}-{hi:.2f}]"


def fmt_time(seconds: float | None) -> str:
    """Format a per-item time in µs (or ns below 1 µs), unit on the same line."""
    if seconds is None:
        return "—"
    us = seconds * 1e6
    return f"{us:.2f}\u00a0µs" if us >= 1 else f"{us * 1000:.0f}\u00a0ns"


def name_cell(label: str, role: str, note: str = "") -> str:
    """Bold plait's own rows; append a note in parentheses."""
    name = f"**{label}**" if role == "plait" else label
    return f"{name} ({note})" if note else name
