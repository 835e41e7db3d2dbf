"""Plan the samples, run them in fresh processes, interleaved, within a budget."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._model import Backend, Case
from .cases import FAMILIES, load

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class Group:
    """One case on one backend: the variants run, skipped, and their samples.

    ``samples[variant][round]`` is the worker's result dict (or None if the
    round never ran); ``sizes[variant]`` is the N actually run, smaller than
    the case's when a one-task-per-item variant is capped.
    """

    case: Case
    backend: Backend
    variants: list[str]
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)
    sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    samples: dict[str, list[dict[str, Any] | None]] = dataclasses.field(
        default_factory=dict
    )
    status: str = "planned"
    extrapolated: list[str] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the group as plain JSON data."""
        case = dataclasses.asdict(self.case)
        case["params"] = dict(self.case.params)
        return {
            "case": case,
            "backend": self.backend,
            "variants": self.variants,
            "skipped": self.skipped,
            "sizes": self.sizes,
            "samples": self.samples,
            "status": self.status,
            "extrapolated": self.extrapolated,
        }


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to run: mode, rounds, minimum sample time, budget, isolation."""

    mode: str
    rounds: int
    min_time: float
    budget: float
    isolate: bool
    backends: tuple[Backend, ...]
    families: tuple[str, ...] = FAMILIES


def installed(module: str) -> bool:
    """Tell whether *module* can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def plan(settings: Settings) -> list[Group]:
    """Expand every family's cases into per-backend groups of runnable variants."""
    groups = []
    for name in settings.families:
        family = load(name)
        for case in family.cases(settings.mode):
            for backend in case.backends:
                if backend not in settings.backends:
                    continue
                group = Group(case, backend, [])
                cap = case.params.get("cap")
                for vname in case.variants:
                    variant = family.variant(vname)
                    missing = [m for m in variant.requires if not installed(m)]
                    if variant.unfit:
                        group.skipped[vname] = variant.unfit
                    elif backend not in variant.backends:
                        group.skipped[vname] = f"does not run on {backend}"
                    elif missing:
                        group.skipped[vname] = f"not installed: {', '.join(missing)}"
                    else:
                        group.variants.append(vname)
                        group.sizes[vname] = case.n
                        if cap is not None and variant.per_item_task and case.n > cap:
                            # Not run: the report reuses its samples at N=cap.
                            group.variants.remove(vname)
                            group.sizes[vname] = int(cap)
                            group.extrapolated.append(vname)
                groups.append(group)
    return groups


def _spec(group: Group, variant: str, settings: Settings) -> dict[str, Any]:
    return {
        "family": group.case.family,
        "variant": variant,
        "backend": group.backend,
        "n": group.sizes[variant],
        "params": dict(group.case.params),
        "kind": group.case.kind,
        "min_time": settings.min_time,
    }


def run_process(
    specs: Sequence[dict[str, Any]], timeout: float
) -> list[dict[str, Any]]:
    """Run *specs* in one fresh interpreter and return its results."""
    with tempfile.TemporaryDirectory(prefix="plait-bench-") as tmp:
        spec_path, out_path = Path(tmp, "in.json"), Path(tmp, "out.json")
        spec_path.write_text(json.dumps(list(specs)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks._worker",
                    str(spec_path),
                    str(out_path),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            message = f"worker timed out after {timeout:.0f}s"
            return [{"status": "error", "message": message} for _ in specs]
        if proc.returncode != 0 or not out_path.exists():
            tail = (proc.stderr or "").strip().splitlines()[-5:]
            message = f"worker exited {proc.returncode}: {' | '.join(tail)}"
            return [{"status": "error", "message": message} for _ in specs]
        results: list[dict[str, Any]] = json.loads(out_path.read_text())
        return results


def _rounds(group: Group, settings: Settings) -> int:
    if group.case.kind != "time":
        return 1
    return min(settings.rounds, group.case.rounds or settings.rounds)


def _order(variants: list[str], round_number: int) -> list[str]:
    # Alternate the order every round so no variant always runs first or last.
    return variants if round_number % 2 == 0 else variants[::-1]


def run_isolated(
    groups: list[Group],
    settings: Settings,
    log: Callable[[str], None],
    on_round: Callable[[], object] = lambda: None,
) -> None:
    """Full mode: every sample in its own process, variants interleaved per round.

    Rounds go across all groups (round 1 of every group, then round 2 ...),
    so when the time budget runs out every group has the same number of
    rounds, rather than the last groups none.
    """
    started = time.monotonic()
    for group in groups:
        group.samples = {v: [None] * _rounds(group, settings) for v in group.variants}
    for r in range(settings.rounds):
        for group in groups:
            if r >= _rounds(group, settings):
                continue
            if time.monotonic() - started > settings.budget:
                if r == 0:
                    group.status = "not run: time budget spent"
                continue
            for variant in _order(group.variants, r):
                [result] = run_process([_spec(group, variant, settings)], timeout=900)
                group.samples[variant][r] = result
            group.status = "ran"
        on_round()
        log(f"[{time.monotonic() - started:6.0f}s] round {r + 1} done")


def run_batched(
    groups: list[Group], settings: Settings, log: Callable[[str], None]
) -> None:
    """Quick mode: one process per backend runs every sample, still interleaved."""
    by_backend: dict[str, list[tuple[Group, str, int]]] = {}
    for group in groups:
        rounds = _rounds(group, settings)
        group.samples = {v: [None] * rounds for v in group.variants}
        for r in range(rounds):
            for variant in _order(group.variants, r):
                by_backend.setdefault(group.backend, []).append((group, variant, r))
    for backend, slots in by_backend.items():
        specs = [_spec(g, v, settings) for g, v, _ in slots]
        results = run_process(specs, timeout=300)
        for (group, variant, r), result in zip(slots, results, strict=True):
            group.samples[variant][r] = result
        log(f"{backend}: {len(specs)} samples")
    for group in groups:
        group.status = "ran"


def failures(groups: list[Group]) -> list[str]:
    """Return what makes the run fail: failed checks; errors not from a peer.

    A peer that errors is reported in the table, not treated as a failure:
    it is someone else's code.
    """
    out = []
    for group in groups:
        family = load(group.case.family)
        for variant, samples in group.samples.items():
            role = family.variant(variant).role
            for sample in samples:
                if sample is None or sample["status"] == "ok":
                    continue
                where = f"{group.case.title} / {variant} / {group.backend}"
                if sample["status"] == "check_failed" or role != "peer":
                    out.append(f"{where}: {sample['status']}: {sample['message']}")
                    break
    return out
