"""The generated section of the performance page: tables of one run."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from . import _targets
from ._analysis import Row, fill_extrapolated, rows, structure_rows
from ._format import fmt_ratio, fmt_time, labels, name_cell
from ._model import BACKENDS

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"

Group = dict[str, Any]


def _by_case(groups: list[Group]) -> dict[str, list[Group]]:
    out: dict[str, list[Group]] = defaultdict(list)
    for group in groups:
        case = group["case"]
        out[f"{case['family']}:{case['title']}:{case['n']}"].append(group)
    return out


def time_table(case_groups: list[Group]) -> list[str]:
    """One case: variants down, backends across; ratio, interval, cost per item."""
    case = case_groups[0]["case"]
    if all(g["status"] != "ran" for g in case_groups):
        return []
    fam_labels = labels(case["family"])
    backends = [b for b in BACKENDS if any(g["backend"] == b for g in case_groups)]
    cells: dict[str, dict[str, Row]] = defaultdict(dict)
    notes: dict[str, str] = {}
    skipped: dict[str, set[str]] = defaultdict(set)
    for group in case_groups:
        for variant, why in group["skipped"].items():
            skipped[variant].add(why)
        if group["status"] != "ran":
            continue
        for row in rows(group, fam_labels):
            cells[row.variant][group["backend"]] = row
            if row.note:
                notes[row.variant] = row.note
    base_label = fam_labels[case["baseline"]][0]
    out = [
        f"#### {case['title']}",
        "",
        f"N = {case['n']:,}; each ratio is to the {base_label}.",
        "",
        "| variant | " + " | ".join(backends) + " |",
        "|---|" + "--:|" * len(backends),
    ]
    for variant, by_backend in cells.items():
        label, role = fam_labels[variant]
        row_cells = []
        for backend in backends:
            found = by_backend.get(backend)
            if found is None:
                row_cells.append("n/a")
            elif found.value is None:
                row_cells.append("failed")
            else:
                row_cells.append(f"{fmt_ratio(found.ratio)} · {fmt_time(found.value)}")
        name = name_cell(label, role, notes.get(variant, ""))
        out.append(f"| {name} | " + " | ".join(row_cells) + " |")
    if skipped:
        reasons = "; ".join(
            f"{fam_labels[v][0]} ({', '.join(sorted(w))})"
            for v, w in sorted(skipped.items())
        )
        out += ["", f"Skipped: {reasons}."]
    out.append("")
    return out


def memory_table(groups: list[Group]) -> list[str]:
    """Bytes per item (results list excluded) for each N, one table per backend."""
    out: list[str] = []
    fam_labels = labels("memory")
    for backend in BACKENDS:
        mine = [g for g in groups if g["backend"] == backend and g["status"] == "ran"]
        if not mine:
            continue
        mine.sort(key=lambda g: g["case"]["n"])
        sizes = [g["case"]["n"] for g in mine]
        table: dict[str, list[str]] = {}
        for i, group in enumerate(mine):
            for row in rows(group, fam_labels):
                cells = table.setdefault(row.variant, ["—"] * len(sizes))
                if row.value is None:
                    cells[i] = "failed"
                else:
                    mark = "*" if row.n_run < group["case"]["n"] else ""
                    cells[i] = f"{row.value:,.0f}{mark}"
        out += [
            f"#### {backend}",
            "",
            "Peak RSS added per item, in bytes (the results list excluded; limit=100).",
            "",
            "| variant | " + " | ".join(f"N={n:,}" for n in sizes) + " |",
            "|---|" + "--:|" * len(sizes),
        ]
        for variant, cells in table.items():
            label, role = fam_labels[variant]
            out.append(f"| {name_cell(label, role)} | " + " | ".join(cells) + " |")
        out += ["", "\\* one task per item: run at the cap, extrapolated flat.", ""]
    return out


def structure_table(groups: list[Group]) -> list[str]:
    """Marginal tasks, cancel scopes and scheduler steps per item, per variant."""
    out = [
        "| case | backend | variant | tasks/item | scopes/item | steps/item "
        "| extra vs hand-written (tasks, scopes, steps) |",
        "|---|---|---|--:|--:|--:|---|",
    ]
    for group in groups:
        if group["status"] != "ran":
            continue
        head = f"| {group['case']['title']} | {group['backend']} "
        for label, c, e in structure_rows(group, labels("structure")):
            out.append(
                f"{head}| {label} | {c['tasks']:.3f} | {c['scopes']:.3f} "
                f"| {c['steps']:.3f} "
                f"| {e['tasks']:+.3f}, {e['scopes']:+.3f}, {e['steps']:+.3f} |"
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
        f"| difference (median of {imports['repeats']} interleaved pairs) "
        f"| {imports['diff_ms']:.1f} ms |",
        "",
        f"Modules `import plait` loads beyond the anyio import: {extra or 'none'}.",
        "",
    ]


def _header(meta: dict[str, Any]) -> list[str]:
    batching = "" if meta["isolate"] else " (quick mode batches them per backend)"
    return [
        f"_Generated by `{meta['command']}` on {meta['date']}: {meta['machine']}; "
        f"Python {meta['python']}; {meta['versions']}. Mode {meta['mode']}: up to "
        f"{meta['rounds']} interleaved rounds, samples of at least "
        f"{meta['min_time']} s, each in a fresh process{batching}; wall time "
        f"{meta['elapsed']:.0f} s._",
        "",
        "Each cell: the median over rounds of the ratio to the case's "
        "hand-written baseline (both sampled in the same round), its 90 % "
        "bootstrap interval, and the median cost per item. Below 1.00x is "
        "faster than the baseline.",
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    """Return the whole generated section of the performance page."""
    groups = fill_extrapolated(results["groups"])
    out = [BEGIN, "", *_header(results["meta"]), "### Targets", ""]
    out += _targets.table(groups, results.get("imports"))
    current = None
    for case_groups in _by_case(
        [g for g in groups if g["case"]["kind"] == "time"]
    ).values():
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
    not_run = [
        f"{g['case']['title']} on {g['backend']}"
        for g in groups
        if g["status"] != "ran"
    ]
    if not_run:
        out += [f"Not run (time budget spent): {', '.join(not_run)}.", ""]
    if results.get("failures"):
        out += ["### failures", "", *(f"- {f}" for f in results["failures"]), ""]
    out.append(END)
    return "\n".join(out) + "\n"
