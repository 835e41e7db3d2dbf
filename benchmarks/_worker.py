"""Run samples in this (fresh) process: ``python -m benchmarks._worker IN OUT``.

IN is a JSON list of sample specs, OUT receives a JSON list of results, one
per spec. A spec names a family, a variant, a backend, N, the case's params,
its kind and (for time samples) the minimum seconds a sample must last.
"""

from __future__ import annotations

import gc
import json
import math
import sys
import time
import traceback
from typing import Any, Literal

import anyio

from ._model import CheckError, Family, Probe, Trial
from ._work import make_work
from .cases import load

WARMUP_N = 1_000
COLLECT_AFTER = 0.02  # seconds: collect garbage before a run if the last took longer


def make_trial(
    family: Family, backend: Literal["asyncio", "trio"], n: int, params: dict[str, Any]
) -> Trial:
    """Build a trial's inputs (untimed)."""
    probe = Probe()
    trial = Trial(backend, n, params, probe, make_work(backend, probe))
    if family.setup is not None:
        family.setup(trial)
    return trial


async def time_sample(spec: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then repeat until ``min_time`` has passed; every run is checked."""
    family = load(spec["family"])
    run = family.variant(spec["variant"]).run
    backend = _loop_backend(spec["backend"])
    n, params = spec["n"], spec["params"]
    warm = make_trial(family, backend, min(n, WARMUP_N), params)
    family.check(warm, await run(warm))
    total, reps, last = 0.0, 0, math.inf
    while reps == 0 or total < spec["min_time"]:
        trial = make_trial(family, backend, n, params)
        # A full collection costs tens of ms: worth it before long runs only
        # (short ones leave little garbage), and never in quick mode.
        if spec["min_time"] > 0 and last > COLLECT_AFTER:
            gc.collect()
        start = time.perf_counter()
        result = await run(trial)
        last = time.perf_counter() - start
        total += last
        family.check(trial, result)
        del result
        reps += 1
    return {"per_item": total / (reps * n), "reps": reps, "seconds": total}


async def memory_sample(spec: dict[str, Any]) -> dict[str, Any]:
    """Run once, no warm-up, and read the peak RSS the run added."""
    family = load(spec["family"])
    run = family.variant(spec["variant"]).run
    trial = make_trial(
        family, _loop_backend(spec["backend"]), spec["n"], spec["params"]
    )
    gc.collect()
    base = _reset_peak_rss()
    result = await run(trial)
    peak = _peak_rss()
    family.check(trial, result)
    held = sys.getsizeof(result)
    added = max(0, peak - base)
    return {
        "peak_rss": added,
        "results_bytes": held,
        "per_item": (added - held) / spec["n"],
    }


async def structure_sample(spec: dict[str, Any]) -> dict[str, Any]:
    """Count tasks, scopes and steps at N and 2N; report the marginal per item."""
    from ._instrument import counting

    family = load(spec["family"])
    run = family.variant(spec["variant"]).run
    backend = _loop_backend(spec["backend"])
    n = spec["n"]
    totals = []
    for size in (n, 2 * n):
        trial = make_trial(family, backend, size, spec["params"])
        with counting(backend) as counts:
            result = await run(trial)
        family.check(trial, result)
        totals.append(counts.as_dict())
    return {
        "counts": totals,
        "per_item": {k: (totals[1][k] - totals[0][k]) / n for k in totals[0]},
    }


_SAMPLERS = {
    "time": time_sample,
    "memory": memory_sample,
    "structure": structure_sample,
}


def _loop_backend(backend: str) -> Literal["asyncio", "trio"]:
    return "trio" if backend == "trio" else "asyncio"


def _status_value(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak_rss() -> int:
    """Reset the kernel's high-water mark (Linux) and return the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return _status_value("VmRSS:")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak_rss() -> int:
    try:
        return _status_value("VmHWM:")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one spec on its backend; report a failed check or an error, never raise."""
    sampler = _SAMPLERS[spec["kind"]]
    backend = spec["backend"]
    options = {"use_uvloop": True} if backend == "uvloop" else {}
    try:
        out = anyio.run(
            sampler, spec, backend=_loop_backend(backend), backend_options=options
        )
    except CheckError as exc:
        return {"status": "check_failed", "message": str(exc)}
    except Exception as exc:
        return {
            "status": "error",
            "message": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    out["status"] = "ok"
    return out


def main(argv: list[str]) -> int:
    """Read specs from ``argv[0]``, write results to ``argv[1]``."""
    with open(argv[0]) as f:
        specs = json.load(f)
    results = [run_spec(spec) for spec in specs]
    with open(argv[1], "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
