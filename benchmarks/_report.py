"""The markdown tables (ratios, targets, memory, structure, imports) of a run."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ._analysis import Row, rows, speedup, structure_rows
from ._model import BACKENDS
from .cases import load

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"

Interval = tuple[float, float, float] | None


def labels(family: str) -> dict[str, tuple[str, str]]:
    """Return ``{variant: (label, role)}`` for *family*."""
    return {v.name: (v.label, v.role) for v in load(family).variants}


def fmt_ratio(ratio: Interval) -> str:
    """Format ``1.04x [0.97–1.12]``."""
    if ratio is None:
        return "—"
    point, lo, hi = ratio
    return f"{point:.2f}x [{lo:.2f}–{hi:.2f}]"


def fmt_time(seconds: float | None) -> str:
    """Format a per-item time in µs (or ns below 1 µs)."""
    if seconds is None:
        return "—"
    us = seconds * 1e6
    return f"{us:.2f} µs" if us >= 1 else f"{us * 1000:.0f} ns"


def _by_case(groups: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group in groups:
        out[_key(group)].append(group)
    return out


def _key(group: dict[str, Any]) -> str:
    case = group["case"]
    return f"{case['family']}:{case['title']}:{case['n']}"


def time_table(case_groups: list[dict[str, Any]]) -> list[str]:
    """One case's table: variants down, backends across, ratio and µs per item."""
    case = case_groups[0]["case"]
    fam_labels = labels(case["family"])
    backends = [b for b in BACKENDS if any(g["backend"] == b for g in case_groups)]
    cells: dict[str, dict[str, Row]] = defaultdict(dict)
    order: list[str] = []
    notes: dict[str, str] = {}
    skipped: dict[str, set[str]] = defaultdict(set)
    for group in case_groups:
        if group["status"] != "ran":
            continue
        for row in rows(group, fam_labels):
            cells[row.variant][group["backend"]] = row
            if row.variant not in order:
                order.append(row.variant)
            if row.note:
                notes[row.variant] = row.note
        for variant, why in group["skipped"].items():
            skipped[variant].add(f"{why}")
    base_label = fam_labels[case["baseline"]][0]
    out = [
        f"#### {case['title']} (N={case['n']:,}; ratio to {base_label})",
        "",
        "| variant | " + " | ".join(backends) + " |",
        "|---|" + "--:|" * len(backends),
    ]
    for variant in order:
        label, role = fam_labels[variant]
        name = f"**{label}**" if role == "plait" else label
        if variant in notes:
            name += f" ({notes[variant]})"
        row_cells = []
        for backend in backends:
            row = cells[variant].get(backend)
            if row is None:
                row_cells.append("n/a")
            elif row.value is None:
                row_cells.append("failed")
            else:
                row_cells.append(f"{fmt_ratio(row.ratio)} · {fmt_time(row.value)}")
        out.append(f"| {name} | " + " | ".join(row_cells) + " |")
    if skipped:
        out.append("")
        out.append(
            "Skipped: "
            + "; ".join(
                f"{fam_labels[v][0]} ({', '.join(sorted(w))})"
                for v, w in sorted(skipped.items())
            )
            + "."
        )
    out.append("")
    return out


def memory_table(groups: list[dict[str, Any]]) -> list[str]:
    """Bytes per item (results list excluded) for each N, per backend."""
    out: list[str] = []
    for backend in BACKENDS:
        mine = [g for g in groups if g["backend"] == backend and g["status"] == "ran"]
        if not mine:
            continue
        mine.sort(key=lambda g: g["case"]["n"])
        fam_labels = labels("memory")
        sizes = [g["case"]["n"] for g in mine]
        table: dict[str, list[str]] = defaultdict(lambda: ["—"] * len(sizes))
        for i, group in enumerate(mine):
            for row in rows(group, fam_labels):
                if row.value is None:
                    table[row.variant][i] = "failed"
                    continue
                mark = "*" if row.n_run < group["case"]["n"] else ""
                table[row.variant][i] = f"{row.value:,.0f}{mark}"
        out += [
            f"#### Memory on {backend}: peak RSS added, bytes per item "
            "(results list excluded)",
            "",
            "| variant | " + " | ".join(f"N={n:,}" for n in sizes) + " |",
            "|---|" + "--:|" * len(sizes),
        ]
        for variant, cells in table.items():
            label, role = fam_labels[variant]
            name = f"**{label}**" if role == "plait" else label
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out += ["", "\\* one task per item: run at the cap, its per-item cost extrapolated flat.", ""]
    return out


def structure_table(groups: list[dict[str, Any]]) -> list[str]:
    """Marginal tasks, cancel scopes and scheduler steps per item, per variant."""
    out = [
        "| case | backend | variant | tasks/item | scopes/item | steps/item | "
        "extra vs hand-written (tasks, scopes, steps) |",
        "|---|---|---|--:|--:|--:|---|",
    ]
    for group in groups:
        if group["status"] != "ran":
            continue
        for label, counts, extra in structure_rows(group, labels("structure")):
            out.append(
                f"| {group['case']['title']} | {group['backend']} | {label} | "
                f"{counts['tasks']:.3f} | {counts['scopes']:.3f} | {counts['steps']:.3f} | "
                f"{extra['tasks']:+.3f}, {extra['scopes']:+.3f}, {extra['steps']:+.3f} |"
            )
    out.append("")
    return out


def imports_table(imports: dict[str, Any] | None) -> list[str]:
    """The import-time comparison."""
    if not imports:
        return ["Import time: not measured.", ""]
    extra = ", ".join(m for m in imports["extra_modules"] if not m.startswith("plait"))
    return [
        "| command | median cumulative import time |",
        "|---|--:|",
        f"| `{imports['anyio_statement']}` | {imports['anyio_ms']:.1f} ms |",
        f"| `import plait` | {imports['plait_ms']:.1f} ms |",
        f"| difference (median of {imports['repeats']} interleaved pairs) | "
        f"{imports['diff_ms']:.1f} ms |",
        "",
        f"Modules `import plait` loads beyond the anyio import: {extra or 'none'}.",
        "",
    ]


def _verdict(ok: bool | None, text: str) -> str:
    mark = "n/a" if ok is None else ("met" if ok else "**not met**")
    return f"{mark}: {text}"


def targets(groups: list[dict[str, Any]], imports: dict[str, Any] | None) -> list[str]:
    """The issue's targets, judged on the intervals' bounds."""
    ran = [g for g in groups if g["status"] == "ran"]
    lines = [
        "| target | " + " | ".join(BACKENDS) + " |",
        "|---|" + "---|" * len(BACKENDS),
    ]

    def row(title: str, cell: Any) -> None:
        lines.append(f"| {title} | " + " | ".join(cell(b) for b in BACKENDS) + " |")

    def worst_vs_baseline(families: set[str], groups_filter: Any, bound: float) -> Any:
        def cell(backend: str) -> str:
            found = []
            for g in ran:
                if g["backend"] != backend or not groups_filter(g):
                    continue
                if g["case"]["family"] not in families or "plait" not in g["samples"]:
                    continue
                ratio = speedup(g, "plait", g["case"]["baseline"])
                if ratio is not None:
                    found.append((ratio[2], ratio, g["case"]["title"]))
            if not found:
                return "n/a"
            hi, ratio, title = max(found)
            return _verdict(hi <= bound, f"worst {fmt_ratio(ratio)} ({title})")

        return cell

    def peers_cell(peer: str) -> Any:
        def cell(backend: str) -> str:
            found = []
            for g in ran:
                if g["backend"] != backend or g["case"]["family"] not in ("bounded_map", "imap"):
                    continue
                ratio = speedup(g, peer, "plait")
                if ratio is not None:
                    found.append((ratio[1], ratio, g["case"]["title"]))
            if not found:
                return "n/a"
            lo, ratio, title = min(found)
            return _verdict(lo >= 10, f"least {ratio[0]:.1f}x [{ratio[1]:.1f}–{ratio[2]:.1f}] ({title})")

        return cell

    for family, bound in (("bounded_map", 1.15), ("imap", 1.15)):
        row(
            f"{family} ≤ {bound}x hand-written pool (limits 10/100/1000)",
            worst_vs_baseline({family}, lambda g: True, bound),
        )
    for family in ("gather", "race"):
        row(f"{family} ≤ 1.10x hand-written anyio task group", worst_vs_baseline({family}, lambda g: True, 1.10))
    for peer, name in (("aiometer", "aiometer"), ("aiostream", "aiostream"), ("lionherd", "lionherd-core")):
        row(f"bounded_map/imap ≥ 10x faster than {name}", peers_cell(peer))
    row("memory per item flat in N (bounded_map)", _memory_cell(ran))
    row("unused options add no task, scope or checkpoint per item", _structure_cell(ran))
    lines.append("")
    if imports:
        ok = imports["diff_ms"] < 20
        lines.append(
            "Import: "
            + _verdict(ok, f"`import plait` costs {imports['diff_ms']:.1f} ms more than the anyio import (target < 20 ms).")
        )
        lines.append("")
    return lines


FLAT_BYTES = 16.0


def _memory_cell(ran: list[dict[str, Any]]) -> Any:
    def cell(backend: str) -> str:
        mem = sorted(
            (g for g in ran if g["backend"] == backend and g["case"]["family"] == "memory"),
            key=lambda g: g["case"]["n"],
        )
        points = []
        for g in mem:
            sample = (g["samples"].get("plait") or [None])[0]
            if sample and sample.get("status") == "ok":
                points.append((g["case"]["n"], sample["peak_rss"] - sample["results_bytes"]))
        if len(points) < 2:
            return "n/a"
        (n0, b0), (n1, b1) = points[0], points[-1]
        slope = (b1 - b0) / (n1 - n0)
        return _verdict(
            slope <= FLAT_BYTES,
            f"{slope:.1f} B/item marginal from N={n0:,} to {n1:,} (flat: ≤ {FLAT_BYTES:.0f})",
        )

    return cell


def _structure_cell(ran: list[dict[str, Any]]) -> Any:
    def cell(backend: str) -> str:
        worst: float | None = None
        for g in ran:
            if g["backend"] != backend or g["case"]["family"] != "structure":
                continue
            for label, _counts, extra in structure_rows(g, labels("structure")):
                if "options unused" in label or label in ("plait.gather", "plait.imap"):
                    m = max(extra.values())
                    worst = m if worst is None else max(worst, m)
        if worst is None:
            return "n/a"
        return _verdict(worst <= 0.01, f"worst extra {worst:+.3f} per item")

    return cell


def markdown(results: dict[str, Any]) -> str:
    """Return the whole generated section of the performance page."""
    meta = results["meta"]
    groups = results["groups"]
    out = [
        BEGIN,
        "",
        f"_Generated by `{meta['command']}` on {meta['date']}; "
        f"{meta['machine']}; Python {meta['python']}; {meta['versions']}. "
        f"Mode {meta['mode']}: {meta['rounds']} interleaved rounds, samples of at "
        f"least {meta['min_time']} s, each in a fresh process"
        f"{'' if meta['isolate'] else ' (quick mode batches them per backend)'}; "
        f"wall time {meta['elapsed']:.0f} s._",
        "",
        "Each cell: median ratio to the case's hand-written baseline, its 90 % "
        "bootstrap interval over the per-round paired ratios, and the median "
        "cost per item. Below 1.00x is faster than the baseline.",
        "",
        "### Targets",
        "",
        *targets(groups, results.get("imports")),
    ]
    by_case = _by_case([g for g in groups if g["case"]["kind"] == "time"])
    current = None
    for _key_, case_groups in by_case.items():
        family = case_groups[0]["case"]["family"]
        if family != current:
            out += [f"### {family}", ""]
            current = family
        out += time_table(case_groups)
    out += ["### memory", ""]
    out += memory_table([g for g in groups if g["case"]["kind"] == "memory"])
    out += ["### unused options (counted, not timed)", ""]
    out += structure_table([g for g in groups if g["case"]["kind"] == "structure"])
    out += ["### import time", ""]
    out += imports_table(results.get("imports"))
    not_run = [f"{g['case']['title']} on {g['backend']}" for g in groups if g["status"] != "ran"]
    if not_run:
        out += [f"Not run (time budget spent): {', '.join(not_run)}.", ""]
    if results.get("failures"):
        out += ["### failures", ""] + [f"- {f}" for f in results["failures"]] + [""]
    out.append(END)
    return "\n".join(out) + "\n"
