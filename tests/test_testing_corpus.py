"""The explorer against a corpus of latent bugs (``tests/explore_corpus.py``).

Each bug passes in asyncio's own order and fails within 100 seeds of
exploration on asyncio and on trio, with the failure its invariant check
raises (an ``AssertionError``, a deadlock's ``TimeoutError``, Python's own
error for a misused generator), never an error of the explorer's own; each
fixed twin never fails under the same seeds. Explored runs replay exactly,
so these are fixed facts, not samples.

The detection rates per bug and backend (plain scheduling, the random and
PCT strategies over 100 seeds) are measured by
``python -m benchmarks.studies.explore_detection``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import pytest

from plait.testing import run

sys.path.insert(0, str(Path(__file__).parent))
from explore_corpus import CORPUS, Bug

Backend = Literal["asyncio", "trio"]
SEEDS = 100


def failure(
    fn: Callable[[], Awaitable[None]],
    *,
    backend: Backend,
    seed: int | None = None,
    strategy: str | None = None,
) -> BaseException | None:
    """Return the exception the run raised, if any."""
    try:
        run(fn, backend=backend, fuzz_seed=seed, strategy=strategy)
    except Exception as error:
        return error
    return None


def test_the_corpus_has_ten_kinds_of_bug() -> None:
    assert len({bug.kind for bug in CORPUS}) >= 10


@pytest.mark.parametrize("bug", CORPUS, ids=lambda bug: bug.name)
def test_each_bug_hides_from_asyncio_scheduling(bug: Bug) -> None:
    assert failure(bug.buggy, backend="asyncio") is None


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("bug", CORPUS, ids=lambda bug: bug.name)
def test_exploration_finds_each_bug_within_100_seeds(
    bug: Bug, backend: Backend
) -> None:
    for seed in range(SEEDS):
        error = failure(bug.buggy, backend=backend, seed=seed)
        if error is not None:
            assert bug.is_failure(error), error
            # The seed replays it.
            again = failure(bug.buggy, backend=backend, seed=seed)
            assert type(again) is type(error)
            return
    pytest.fail(f"{bug.name} survived {SEEDS} seeds on {backend}")


@pytest.mark.parametrize("strategy", ["random", "pct"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("bug", CORPUS, ids=lambda bug: bug.name)
def test_each_fixed_twin_survives_100_seeds(
    bug: Bug, backend: Backend, strategy: str
) -> None:
    for seed in range(SEEDS):
        error = failure(bug.fixed, backend=backend, seed=seed, strategy=strategy)
        assert error is None, f"seed {seed}: {error!r}"
