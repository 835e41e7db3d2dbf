"""Drawing scenarios: from a seed (the harness), or with hypothesis (the tests).

Both draw the same space: a family's modes, jobs of the kinds it allows
(``plait.testing.JobSpec``), an outer cancellation at a multiple of ``TICK``,
and an optional schedule-fuzzing seed.
"""

from __future__ import annotations

import dataclasses
import random
from typing import TYPE_CHECKING, Any

from plait.testing import JobSpec

from ._model import MAX_TICKS, TICK, Backend, Family, Scenario, Source

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


def sources(family: Family, backend: Backend) -> tuple[Source, ...]:
    """The outer cancellations *family* may draw on *backend*."""
    if backend == "trio":  # Task.cancel() is asyncio's
        return tuple(source for source in family.sources if source != "task")
    return family.sources


def settle(family: Family, scenario: Scenario) -> Scenario:
    """Return *scenario* made finite (with no outer cancellation, nothing
    hangs) and within what the family's API promises."""
    if family.adjust is not None:
        scenario = family.adjust(scenario)
    if scenario.source != "none":
        return scenario
    jobs = tuple(dataclasses.replace(job, hangs=False) for job in scenario.jobs)
    return dataclasses.replace(scenario, jobs=jobs, cancel_at=0.0)


def draw(family: Family, backend: Backend, seed: int) -> Scenario:
    """Return the scenario the harness runs for *seed* (the same every time)."""
    rnd = random.Random(f"plait-stress-{family.name}-{seed}")
    low, high = family.jobs
    jobs = tuple(_job(rnd, family, index) for index in range(rnd.randint(low, high)))
    mode = tuple(
        (key, rnd.choice(list(values))) for key, values in family.modes.items()
    )
    source = rnd.choice(sources(family, backend))
    cancel_at = rnd.randint(0, MAX_TICKS) * TICK
    fuzz_seed = rnd.randrange(2**32) if rnd.random() < 0.6 else None
    return settle(
        family, Scenario(family.name, jobs, mode, source, cancel_at, fuzz_seed)
    )


def _job(rnd: random.Random, family: Family, index: int) -> JobSpec:
    kinds = family.kinds
    endings = ["returns"] * 4
    endings += ["fails"] * 2 * kinds.failures
    endings += ["hangs"] * kinds.hangs + ["interrupts"] * kinds.interrupts
    reactions: list[Any] = ["propagate"] * 3
    if kinds.cleanup_failures:
        reactions.append("fail")
    if kinds.catches_cancellation:
        reactions.append("return")
    ending = rnd.choice(endings)
    return JobSpec(
        index,
        delay=rnd.choice([0, 0, *range(MAX_TICKS + 1)]) * TICK,
        checkpoints=rnd.randint(0, 3),
        fails=ending == "fails",
        hangs=ending == "hangs",
        interrupts=ending == "interrupts",
        on_cancel=rnd.choice(reactions),
    )


def scenarios(family: Family, backend: Backend) -> SearchStrategy[Scenario]:
    """Return a hypothesis strategy for *family*'s scenarios on *backend*.

    The jobs come from ``plait.testing.job_plans``, with every kind the
    family allows; shrinking moves toward fewer, plainer jobs, the first
    value of each mode, no cancellation and no fuzzing.
    """
    from hypothesis import strategies as st

    from plait.testing import fuzz_seeds, job_plans

    kinds = family.kinds
    plans = job_plans(
        min_jobs=family.jobs[0],
        max_jobs=family.jobs[1],
        max_delay=MAX_TICKS * TICK,
        failures=kinds.failures,
        hangs=kinds.hangs,
        interrupts=kinds.interrupts,
        cleanup_failures=kinds.cleanup_failures,
        catches_cancellation=kinds.catches_cancellation,
    )
    outer = [source for source in sources(family, backend) if source != "none"]

    @st.composite
    def build(draw: st.DrawFn) -> Scenario:
        plan = draw(plans)
        mode = tuple(
            (key, draw(st.sampled_from(list(values))))
            for key, values in family.modes.items()
        )
        source: Source = "none"
        if plan.cancel_after is not None and outer:
            source = draw(st.sampled_from(outer))
        fuzz_seed = draw(st.none() | fuzz_seeds())
        scenario = Scenario(
            family.name, plan.jobs, mode, source, plan.cancel_after or 0.0, fuzz_seed
        )
        return settle(family, scenario)

    return build()
