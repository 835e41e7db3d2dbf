"""exploration: what schedule exploration costs, per task switch and per test.

The same work unexplored (the baseline) and under ``plait.testing``'s
explorer, entered inside the running loop: in the loop's natural order (the
bookkeeping alone), with the random-delay strategy, and with PCT. Two jobs:
``switches`` (N task steps: 10 tasks checkpointing in turn; time per item
is time per step, so 1/that is steps per second) and ``fuzzed test`` (the
body of one of plait's fuzzed property tests: bounded_map over N jobs,
limit 10, each passing two checkpoints). uvloop cannot be explored, so it
is left out.
"""

from __future__ import annotations

from typing import Any

from .._model import Backend, Case, Family, Trial, Variant, expect
from ._common import FULL_N, QUICK_N, check_mapped, names

TASKS = 10
LIMIT = 10
EXPLORABLE: frozenset[Backend] = frozenset({"asyncio", "trio"})


async def switches(t: Trial) -> Any:
    """N task steps: TASKS tasks, each checkpointing N / TASKS times."""
    import anyio

    work = t.work
    per_task = t.n // TASKS

    async def task(first: int) -> None:
        for x in range(first, first + per_task):
            await work(x)

    async with anyio.create_task_group() as tg:
        for n in range(TASKS):
            tg.start_soon(task, n * per_task)
    return t.probe.done


async def fuzzed_test(t: Trial) -> Any:
    """bounded_map over jobs that pass anyio checkpoints, as plait's tests' do."""
    import anyio.lowlevel

    import plait

    work = t.work
    checkpoint = anyio.lowlevel.checkpoint

    async def job(x: int) -> int:
        await checkpoint()
        return await work(x)

    return await plait.bounded_map(job, range(t.n), limit=LIMIT)


def explored(strategy: str | None, job: Any) -> Any:
    """Return a variant running *job* explored (``None``: the natural order)."""

    async def run(t: Trial) -> Any:
        from plait.testing import Schedule, fuzz_schedule

        if strategy is None:
            exploring = fuzz_schedule(1, schedule=Schedule())
        else:
            exploring = fuzz_schedule(1, strategy=strategy)
        with exploring:
            return await job(t)

    return run


def variants(job: Any, prefix: str) -> tuple[Variant, ...]:
    return (
        Variant(f"{prefix}_plain", "unexplored", "baseline", job),
        Variant(
            f"{prefix}_natural",
            "explored, the loop's natural order",
            "plait",
            explored(None, job),
            backends=EXPLORABLE,
        ),
        Variant(
            f"{prefix}_random",
            "explored, strategy='random'",
            "plait",
            explored("random", job),
            backends=EXPLORABLE,
        ),
        Variant(
            f"{prefix}_pct",
            "explored, strategy='pct'",
            "plait",
            explored("pct", job),
            backends=EXPLORABLE,
        ),
    )


SWITCHES = variants(switches, "switches")
FUZZED = variants(fuzzed_test, "bounded_map")
VARIANTS = SWITCHES + FUZZED


JOBS = (
    ("task switches", SWITCHES),
    (f"a fuzzed test (bounded_map, limit {LIMIT})", FUZZED),
)


def cases(mode: str) -> list[Case]:
    return [
        Case(
            family="exploration",
            title=title,
            kind="time",
            n=QUICK_N * 10 if mode == "quick" else FULL_N,
            baseline=variants[0].name,
            variants=names(variants),
            params={"limit": LIMIT},
            backends=("asyncio", "trio"),
            group="exploration",
        )
        for title, variants in JOBS
    ]


def check(trial: Trial, result: Any) -> None:
    if isinstance(result, int):
        expect(result == trial.n, f"{result} of {trial.n} steps done")
        expect(trial.probe.active == 0, f"{trial.probe.active} items still active")
        return
    check_mapped(trial, result, ordered=True, bounded=True)


FAMILY = Family("exploration", VARIANTS, cases, check)
