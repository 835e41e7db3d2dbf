"""plait's stress harness: seeded, bounded runs of every pattern under fire.

Each *family* (``_registry.FAMILIES``) is one public API driven one way:
a pattern in each of its modes (``gather`` with and without
``return_exceptions``, ``race`` with and without ``stagger``, ``bounded_map``,
``imap`` ordered and unordered, ``as_completed``, ``retry``), a
``Supervisor``, a ``JobWorker``. A *case* draws, from its own seed, the jobs
(``plait.testing.JobSpec``: they return, fail, hang, fail in their cleanup,
swallow the cancellation and return, or raise a ``BaseException``), the
family's mode, a cancellation from outside (none, an enclosing deadline, a
sibling task cancelling the scope, asyncio's ``Task.cancel()``) at a drawn
instant, and a schedule-fuzzing seed; it runs on asyncio, uvloop or trio
(virtual time where there is one) and checks the family's invariants on what
really happened: every real failure surfaces exactly once, the call ends as
the outer cancellation only when nothing failed, nothing is invented,
nothing runs afterwards, the limits hold, a winner's value is kept.

Run ``python -m stress`` (``--short``: a few hundred cases per event loop,
as CI does; ``--cases N`` per event loop; ``--family``, ``--backend``,
``--seed``). It exits 1 on any anomaly and prints, for each, the case's seed
and the command that replays it. The property tests
(``tests/test_properties_*.py``) draw the same scenarios with hypothesis, from
``plait.testing.job_plans``, and check them with the same invariants.

A new family is a module-level ``Family`` in ``_patterns.py`` or
``_services.py`` (or a module of its own) added to ``_registry.FAMILIES``.
"""

from ._draw import draw, scenarios
from ._drive import run_case
from ._model import Backend, Scenario
from ._registry import FAMILIES


def check(scenario: Scenario, backend: Backend) -> None:
    """Run *scenario* on *backend*; fail naming its anomalies (property tests)."""
    problems = run_case(FAMILIES[scenario.family], scenario, backend)
    assert not problems, "\n".join([scenario.describe(), *problems])


__all__ = ["FAMILIES", "check", "draw", "run_case", "scenarios"]
