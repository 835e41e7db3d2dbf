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


def _plain(value: float, _position: object = None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _leads(value: float) -> bool:
    """Label the minor ticks that start with 2 or 5 (20, 50), not all nine."""
    return f"{value:.0e}"[0] in "25"


def plot(results: dict[str, Any], path: Path) -> str | None:
    """Write the plot to *path*; return why not if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
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
    # Large enough to read at the page's width; one legend, below the panels,
    # so that no curve runs under it.
    style = {
        "font.size": 14,
        "axes.titlesize": 15,
        "axes.labelsize": 14,
        "legend.fontsize": 13,
        "xtick.labelsize": 12,
        "ytick.labelsize": 12,
    }
    with plt.rc_context(style):
        fig, axes = plt.subplots(
            2, len(backends), figsize=(6 * len(backends), 10), squeeze=False
        )
        panels = (
            ("scaling", 1e6, "µs per item\n(bounded_map, limit=100)"),
            ("memory", 1.0, "peak RSS bytes per item\n(results list excluded)"),
        )
        colours: dict[str, Any] = {}
        handles: dict[str, Any] = {}
        plain = FuncFormatter(_plain)
        some = FuncFormatter(lambda value, _: _plain(value) if _leads(value) else "")
        for r, (family, scale, ylabel) in enumerate(panels):
            for c, backend in enumerate(backends):
                ax = axes[r][c]
                series = _series(groups, family, backend, scale)
                for label, points in series.items():
                    colour = colours.setdefault(label, f"C{len(colours) % 10}")
                    measured = [(n, v) for n, v, e in points if not e]
                    if measured:
                        (line,) = ax.plot(
                            *zip(*measured, strict=True),
                            "o-",
                            color=colour,
                            label=label,
                            linewidth=2,
                        )
                        handles.setdefault(label, line)
                    extra = [(n, v) for n, v, e in points if e]
                    if extra and measured:
                        tail = [measured[-1], *extra]
                        ax.plot(
                            [n for n, _ in tail],
                            [v for _, v in tail],
                            ":",
                            color=colour,
                            linewidth=2,
                        )
                ax.set_xscale("log")
                if family == "scaling":
                    ax.set_yscale("log")
                else:
                    # From ~0 (O(limit) state) to kilobytes (a task per item);
                    # bytes held never go below zero, whatever the margins say,
                    # and the top curve keeps some room above it.
                    ax.set_yscale("symlog", linthresh=10)
                    ax.set_ylim(0, ax.get_ylim()[1] * 2)
                # Plain numbers (2, 30, 1,000), not powers of ten, on the y axis.
                ax.yaxis.set_major_formatter(plain)
                ax.yaxis.set_minor_formatter(some if family == "scaling" else "")
                ax.set_xlabel("N items")
                if c == 0:
                    ax.set_ylabel(ylabel)
                ax.set_title(
                    f"{'time' if family == 'scaling' else family} on {backend}"
                )
                ax.grid(True, which="both", alpha=0.3)
        fig.suptitle(
            "plait against hand-written code and peers "
            "(dotted: extrapolated past the cap)"
        )
        fig.legend(
            list(handles.values()),
            list(handles),
            loc="lower center",
            ncol=min(3, len(handles)) or 1,
            frameon=False,
        )
        rows = (len(handles) + 2) // 3
        fig.tight_layout(rect=(0, 0.035 * rows + 0.02, 1, 1))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return None
