"""The PNG: cost per item vs N (time and memory), one column per backend."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ._analysis import fill_extrapolated, rows
from ._format import labels
from ._model import BACKENDS


def _series(
    groups: list[dict[str, Any]], family: str, backend: str, scale: float
) -> dict[str, list[tuple[int, float, bool]]]:
    """Return ``{label: [(N, value, extrapolated)]}`` for one family on one backend."""
    out: dict[str, list[tuple[int, float, bool]]] = defaultdict(list)
    fam_labels = labels(family)
    for group in groups:
        if group["case"]["family"] != family or group["backend"] != backend:
            continue
        if group["status"] != "ran":
            continue
        for row in rows(group, fam_labels):
            if row.value is not None:
                extrapolated = row.n_run < group["case"]["n"]
                out[row.label].append(
                    (group["case"]["n"], row.value * scale, extrapolated)
                )
    for points in out.values():
        points.sort()
    return out


def plot(results: dict[str, Any], path: Path) -> str | None:
    """Write the plot to *path*; return why not if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    groups = fill_extrapolated(results["groups"])
    families = ("scaling", "memory")
    backends = [
        b
        for b in BACKENDS
        if any(g["backend"] == b and g["case"]["family"] in families for g in groups)
    ]
    if not backends:
        return "no scaling or memory cases ran: no plot"
    fig, axes = plt.subplots(
        2, len(backends), figsize=(5 * len(backends), 8), squeeze=False
    )
    panels = (
        ("scaling", 1e6, "µs per item (bounded_map, limit=100)"),
        ("memory", 1.0, "peak RSS bytes per item, results list excluded"),
    )
    colours: dict[str, Any] = {}
    for r, (family, scale, ylabel) in enumerate(panels):
        for c, backend in enumerate(backends):
            ax = axes[r][c]
            for label, points in _series(groups, family, backend, scale).items():
                colour = colours.setdefault(label, f"C{len(colours) % 10}")
                measured = [(n, v) for n, v, e in points if not e]
                if measured:
                    ax.plot(
                        *zip(*measured, strict=True), "o-", color=colour, label=label
                    )
                extra = [(n, v) for n, v, e in points if e]
                if extra and measured:
                    tail = [measured[-1], *extra]
                    ax.plot(
                        [n for n, _ in tail], [v for _, v in tail], ":", color=colour
                    )
            ax.set_xscale("log")
            if family == "scaling":
                ax.set_yscale("log")
            else:
                # From ~0 (O(limit) state) to kilobytes (a task per item).
                ax.set_yscale("symlog", linthresh=10)
            ax.set_xlabel("N items")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{family} on {backend}")
            ax.grid(True, which="both", alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
    fig.suptitle("plait vs hand-written and peers (dotted: extrapolated past the cap)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
