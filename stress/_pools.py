"""The pools' families: bounded_map and imap over items of every form."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio

import plait

from ._common import (
    LIMITS,
    all_results_problems,
    failures,
    held_problems,
    items_closed,
    items_for,
    limit_problems,
    notes_problems,
    pool_fn,
    results_problems,
)
from ._drive import expect_failures
from ._model import Family, Observation, Run

# --- bounded_map ------------------------------------------------------------


async def _call_map(run: Run) -> Any:
    return await plait.bounded_map(
        pool_fn(run),
        items_for(run),
        limit=run.scenario["limit"],
        return_exceptions=run.scenario["return_exceptions"],
    )


def _check_map(obs: Observation) -> list[str]:
    return_exceptions, limit = (
        obs.run.scenario["return_exceptions"],
        obs.run.scenario["limit"],
    )
    problems = expect_failures(obs, failures(obs, return_exceptions))
    problems += limit_problems(obs, limit) + held_problems(obs, limit)
    problems += items_closed(obs) + notes_problems(obs, "bounded_map", "item")
    return problems + all_results_problems(obs, return_exceptions)


_ITEMS_MODES = {
    "items": ("list", "generator", "async generator"),
    "items_fail": (None, None, None, 0, 1, 3),
}

BOUNDED_MAP = Family(
    "bounded_map",
    _call_map,
    _check_map,
    modes={"limit": LIMITS, "return_exceptions": (False, True), **_ITEMS_MODES},
    jobs=(0, 8),
)


# --- imap -------------------------------------------------------------------


async def _call_imap(run: Run) -> Any:
    scenario = run.scenario
    delivered: list[tuple[int, Any]] = []
    run.extra["delivered"] = delivered
    # Done with an item: read, or failed (a failure stops the pulling).
    run.extra["done_with"] = lambda run: (
        len(delivered) + sum(e.kind == "fail" for e in run.timeline)
    )
    stop_after, pause = scenario["stop_after"], scenario["reader_delay"]

    async def read(results: AsyncIterator[tuple[int, Any]]) -> None:
        async for pair in results:
            delivered.append(pair)
            if stop_after is not None and len(delivered) >= stop_after:
                break
            if pause:
                await anyio.sleep(run.seconds(pause))

    readers = scenario["readers"]
    async with plait.imap(
        pool_fn(run, readers if readers > 1 else 0),
        items_for(run),
        limit=scenario["limit"],
        buffer=scenario["buffer"],
        ordered=scenario["ordered"],
        return_exceptions=scenario["return_exceptions"],
        with_index=True,
    ) as results:
        if scenario["readers"] == 1:
            await read(results)
        else:
            async with anyio.create_task_group() as tg:
                for _ in range(scenario["readers"]):
                    tg.start_soon(read, results)
    return delivered


def _check_imap(obs: Observation) -> list[str]:
    """imap's failures: every one not delivered as a result, read or not."""
    scenario = obs.run.scenario
    return_exceptions = scenario["return_exceptions"]
    problems = expect_failures(obs, failures(obs, return_exceptions))
    limit, buffer = scenario["limit"], scenario["buffer"]
    problems += limit_problems(obs, limit)
    problems += held_problems(obs, limit + (limit if buffer is None else buffer))
    problems += items_closed(obs) + notes_problems(obs, "imap", "item")
    delivered: list[tuple[int, Any]] = obs.run.extra.get("delivered", [])
    indexes = [index for index, _ in delivered]
    if len(set(indexes)) != len(indexes):
        problems.append(f"results delivered twice: {indexes}")
    in_order = list(range(len(indexes)))
    if scenario["ordered"] and scenario["readers"] == 1 and indexes != in_order:
        problems.append(f"ordered results out of order: {indexes}")
    problems += results_problems(obs, delivered, return_exceptions)
    complete = scenario["stop_after"] is None and obs.outcome == "value"
    if complete and sorted(indexes) != list(range(len(scenario.jobs))):
        problems.append(f"results missing: got {sorted(indexes)}")
    return problems


IMAP = Family(
    "imap",
    _call_imap,
    _check_imap,
    modes={
        "limit": LIMITS,
        "buffer": (None, 0, 2),
        "ordered": (True, False),
        "return_exceptions": (False, True),
        "readers": (1, 1, 2),
        "stop_after": (None, None, 0, 1, 3),
        "reader_delay": (0, 0, 0.125),
        **_ITEMS_MODES,
    },
    jobs=(0, 8),
)
