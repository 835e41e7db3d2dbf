"""The performance page's opening: what plait costs, and what it saves, at a glance.

One table of median ratios from the same run as the detailed tables below
it: plait against the code you would write by hand (below 1.00x is
faster), and the peers against plait (how many times slower they are).
"""

from __future__ import annotations

from typing import Any

from ._analysis import fill_extrapolated, speedup
from ._model import BACKENDS
from ._targets import PEERS

BEGIN = "<!-- bench:summary:begin -->"
END = "<!-- bench:summary:end -->"

Group = dict[str, Any]

# (family, what plait is compared with): the costs over hand-written code.
COSTS = (
    ("bounded_map", "a hand-written anyio worker pool"),
    ("imap", "the same pool feeding a memory object stream"),
    ("gather", "an anyio task group"),
    ("race", "an anyio task group"),
    ("as_completed", "an anyio task group and a memory object stream"),
)


def _range(ratios: list[float], digits: int) -> str:
    if not ratios:
        return "n/a"
    low, high = min(ratios), max(ratios)
    if f"{low:.{digits}f}" == f"{high:.{digits}f}":
        return f"{low:.{digits}f}x"
    return f"{low:.{digits}f}-{high:.{digits}f}x"


def _medians(
    groups: list[Group], backend: str, families: tuple[str, ...]
) -> list[Group]:
    return [
        g
        for g in groups
        if g["status"] == "ran"
        and g["backend"] == backend
        and g["case"]["family"] in families
    ]


def summary(results: dict[str, Any], plot: str | None) -> str:
    """Return the summary section (markers included), with *plot* if given."""
    groups = fill_extrapolated(results["groups"])
    meta = results["meta"]
    backends = [b for b in BACKENDS if any(g["backend"] == b for g in groups)]
    out = [
        BEGIN,
        "",
        "## Summary",
        "",
        f"Measured by `{meta['command']}` on {meta['date']} ({meta['machine']}; "
        f"Python {meta['python']}), the run whose tables follow. Each cell is "
        "the range of the median ratios over the cases of its row (limits 10, "
        "100 and 1000 for the pools). plait against hand-written code: below "
        "1.00x plait is faster. The peers against plait: how many times "
        "slower the peer is than `bounded_map` and `imap`.",
        "",
        "| | " + " | ".join(backends) + " |",
        "|---|" + "--:|" * len(backends),
    ]
    for family, baseline in COSTS:
        cells = []
        for backend in backends:
            ratios = []
            for g in _medians(groups, backend, (family,)):
                ratio = speedup(g, "plait", g["case"]["baseline"])
                if ratio is not None:
                    ratios.append(ratio[0])
            cells.append(_range(ratios, 2))
        out.append(f"| `{family}` over {baseline} | " + " | ".join(cells) + " |")
    for peer, name in PEERS:
        cells = []
        for backend in backends:
            ratios = []
            for g in _medians(groups, backend, ("bounded_map", "imap")):
                ratio = speedup(g, peer, "plait")
                if ratio is not None:
                    ratios.append(ratio[0])
            cells.append(_range(ratios, 1))
        out.append(f"| {name} over `bounded_map`, `imap` | " + " | ".join(cells) + " |")
    out.append("")
    if plot is not None:
        out += [
            f"![Cost per item and memory per item against N, per event loop]({plot})",
            "",
            "Top: the cost per item as N grows (`bounded_map`, limit=100, against "
            "the hand-written pool and the peers); bottom: the memory held per "
            "item. Dotted: a peer that spawns a task per item, extrapolated flat "
            "past the N it ran at.",
            "",
        ]
    out.append(END)
    return "\n".join(out) + "\n"
