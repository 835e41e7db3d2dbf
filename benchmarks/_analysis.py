"""From raw samples to numbers: per-variant medians, ratios and target verdicts."""

from __future__ import annotations

import dataclasses
from typing import Any

from ._stats import median, paired_ratio, spread


@dataclasses.dataclass(frozen=True)
class Row:
    """One variant of one group (case on backend), summarised."""

    variant: str
    label: str
    role: str
    value: float | None  # median per-item seconds, or bytes, by kind
    spread: float
    ratio: tuple[float, float, float] | None  # vs the case's baseline
    n_run: int
    note: str = ""


def _values(
    samples: list[dict[str, Any] | None], key: str = "per_item"
) -> list[float | None]:
    return [
        s[key] if s is not None and s.get("status") == "ok" else None for s in samples
    ]


def _error(samples: list[dict[str, Any] | None]) -> str:
    for s in samples:
        if s is not None and s.get("status") != "ok":
            return str(s.get("message", s.get("status")))
    return ""


def fill_extrapolated(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give capped variants the samples of the same variant at N = cap.

    One-task-per-item variants are not run past their cap; their cost per
    item there is taken as flat (the report marks those cells).
    """
    by_size = {
        (g["case"]["family"], g["backend"], g["case"]["n"]): g
        for g in groups
        if g["status"] == "ran"
    }
    out = []
    for group in groups:
        capped = group.get("extrapolated") or []
        if capped:
            group = {**group, "samples": dict(group["samples"])}
            group["variants"] = list(group["variants"])
            for variant in capped:
                cap = group["sizes"][variant]
                source = by_size.get((group["case"]["family"], group["backend"], cap))
                if source and variant in source["samples"]:
                    group["samples"][variant] = source["samples"][variant]
                    group["variants"].append(variant)
        out.append(group)
    return out


def rows(group: dict[str, Any], labels: dict[str, tuple[str, str]]) -> list[Row]:
    """Summarise a time or memory group: one Row per variant, baseline first."""
    case = group["case"]
    baseline = case["baseline"]
    base = _values(group["samples"].get(baseline, []))
    out = []
    for variant in group["variants"]:
        samples = group["samples"].get(variant, [])
        values = _values(samples)
        good = [v for v in values if v is not None]
        label, role = labels[variant]
        n_run = group["sizes"][variant]
        note = ""
        if n_run < case["n"]:
            note = f"run at N={n_run:,}, extrapolated flat"
        error = _error(samples)
        if error:
            note = f"failed: {error[:120]}"
        ratio = paired_ratio(values, base) if base and good else None
        out.append(
            Row(
                variant,
                label,
                role,
                median(good) if good else None,
                spread(good) if good else 0.0,
                ratio,
                n_run,
                note,
            )
        )
    out.sort(key=lambda r: (r.variant != baseline, r.role != "plait"))
    return out


def speedup(
    group: dict[str, Any], slow: str, fast: str
) -> tuple[float, float, float] | None:
    """Return how many times *fast* beats *slow* in *group*, with its interval."""
    samples = group["samples"]
    if slow not in samples or fast not in samples:
        return None
    return paired_ratio(_values(samples[slow]), _values(samples[fast]))


def structure_rows(
    group: dict[str, Any], labels: dict[str, tuple[str, str]]
) -> list[tuple[str, dict[str, float], dict[str, float]]]:
    """Return (label, per-item counts, counts minus the baseline's) per variant."""
    baseline = group["case"]["baseline"]
    per_item: dict[str, dict[str, float]] = {}
    for variant, samples in group["samples"].items():
        sample = samples[0] if samples else None
        if sample is not None and sample.get("status") == "ok":
            per_item[variant] = sample["per_item"]
    base = per_item.get(baseline, {})
    out = []
    for variant in group["variants"]:
        if variant not in per_item:
            continue
        counts = per_item[variant]
        extra = {k: counts[k] - base.get(k, 0.0) for k in counts}
        out.append((labels[variant][0], counts, extra))
    return out
