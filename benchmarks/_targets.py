"""The issue's targets, each judged on the bound of its 90 % interval."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._analysis import speedup, structure_rows
from ._format import fmt_ratio, labels
from ._model import BACKENDS

Cell = Callable[[str], str]
Group = dict[str, Any]

GATHER_BOUND = 1.10
MAP_BOUND = 1.15
PEER_SPEEDUP = 10.0
FLAT_BYTES = 16.0
IMPORT_MS = 20.0
PEERS = (
    ("aiometer", "aiometer"),
    ("aiostream", "aiostream"),
    ("lionherd", "lionherd-core"),
)


def verdict(ok: bool, text: str) -> str:
    """Prefix *text* with ``met`` or ``not met``."""
    return f"{'met' if ok else '**not met**'}: {text}"


def _ran(groups: list[Group], backend: str, family: str) -> list[Group]:
    return [
        g
        for g in groups
        if g["status"] == "ran"
        and g["backend"] == backend
        and g["case"]["family"] == family
    ]


def versus_baseline(groups: list[Group], family: str, bound: float) -> Cell:
    """plait over the hand-written baseline: the worst case's upper bound."""

    def cell(backend: str) -> str:
        found = []
        for g in _ran(groups, backend, family):
            ratio = speedup(g, "plait", g["case"]["baseline"])
            if ratio is not None:
                found.append((ratio[2], ratio, g["case"]["title"]))
        if not found:
            return "n/a"
        hi, ratio, title = max(found)
        return verdict(hi <= bound, f"worst {fmt_ratio(ratio)} ({title})")

    return cell


def versus_peer(groups: list[Group], peer: str) -> Cell:
    """The peer over plait (bounded_map and imap): the least lower bound."""

    def cell(backend: str) -> str:
        found = []
        for family in ("bounded_map", "imap"):
            for g in _ran(groups, backend, family):
                ratio = speedup(g, peer, "plait")
                if ratio is not None:
                    found.append((ratio[1], ratio, g["case"]["title"]))
        if not found:
            return "n/a"
        lo, ratio, title = min(found)
        text = f"least {ratio[0]:.1f}x [{ratio[1]:.1f}-{ratio[2]:.1f}] ({title})"
        return verdict(lo >= PEER_SPEEDUP, text)

    return cell


def memory_flat(groups: list[Group]) -> Cell:
    """Marginal bytes per item of plait between the smallest and largest N."""

    def cell(backend: str) -> str:
        points = []
        for g in sorted(_ran(groups, backend, "memory"), key=lambda g: g["case"]["n"]):
            sample = (g["samples"].get("plait") or [None])[0]
            if sample and sample.get("status") == "ok":
                held = sample["peak_rss"] - sample["results_bytes"]
                points.append((g["case"]["n"], held))
        if len(points) < 2:
            return "n/a"
        (n0, b0), (n1, b1) = points[0], points[-1]
        slope = (b1 - b0) / (n1 - n0)
        text = f"{slope:.1f} B/item from N={n0:,} to {n1:,} (flat: <= {FLAT_BYTES:g})"
        return verdict(slope <= FLAT_BYTES, text)

    return cell


def options_free(groups: list[Group]) -> Cell:
    """Extra tasks, scopes or steps per item with every option unused."""
    unused = ("plait.bounded_map, options unused", "plait.gather", "plait.imap")

    def cell(backend: str) -> str:
        worst: float | None = None
        for g in _ran(groups, backend, "structure"):
            for label, _counts, extra in structure_rows(g, labels("structure")):
                if label in unused:
                    m = max(extra.values())
                    worst = m if worst is None else max(worst, m)
        if worst is None:
            return "n/a"
        return verdict(worst <= 0.01, f"worst extra {worst:+.3f} per item")

    return cell


def table(groups: list[Group], imports: dict[str, Any] | None) -> list[str]:
    """Return the targets table (and the import verdict) as markdown lines."""
    rows: list[tuple[str, Cell]] = [
        (
            f"bounded_map <= {MAP_BOUND}x hand-written pool (limits 10/100/1000)",
            versus_baseline(groups, "bounded_map", MAP_BOUND),
        ),
        (
            f"imap <= {MAP_BOUND}x hand-written pool + stream (limits 10/100/1000)",
            versus_baseline(groups, "imap", MAP_BOUND),
        ),
        (
            f"gather <= {GATHER_BOUND}x hand-written anyio task group",
            versus_baseline(groups, "gather", GATHER_BOUND),
        ),
        (
            f"race <= {GATHER_BOUND}x hand-written anyio task group",
            versus_baseline(groups, "race", GATHER_BOUND),
        ),
        *(
            (f"bounded_map/imap >= 10x faster than {name}", versus_peer(groups, peer))
            for peer, name in PEERS
        ),
        ("memory per item flat in N (bounded_map)", memory_flat(groups)),
        ("unused options: no extra task, scope or step per item", options_free(groups)),
    ]
    out = [
        "| target | " + " | ".join(BACKENDS) + " |",
        "|---|" + "---|" * len(BACKENDS),
    ]
    for title, cell in rows:
        out.append(f"| {title} | " + " | ".join(cell(b) for b in BACKENDS) + " |")
    out.append("")
    if imports:
        diff = imports["diff_ms"]
        text = f"`import plait` costs {diff:.1f} ms more than the anyio import"
        out += [f"Import (< {IMPORT_MS:g} ms): " + verdict(diff < IMPORT_MS, text), ""]
    return out
