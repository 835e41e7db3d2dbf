"""Case families: one module per family, each exposing ``FAMILY``.

To add a family (the durable job backend's throughput, say), write
``cases/<name>.py`` with a ``FAMILY = Family(...)`` and add ``<name>`` to
``FAMILIES``; the runner, the self-checks and the report pick it up.
"""

from __future__ import annotations

import importlib

from .._model import Family

# In priority order: when the full run's budget runs out, later rounds of
# the later families are the ones left out.
FAMILIES: tuple[str, ...] = (
    "structure",
    "bounded_map",
    "gather",
    "race",
    "imap",
    "as_completed",
    "memory",
    "scaling",
    "retry",
    "exploration",
)


def load(name: str) -> Family:
    """Import ``benchmarks.cases.<name>`` and return its ``FAMILY``."""
    module = importlib.import_module(f"{__name__}.{name}")
    family: Family = module.FAMILY
    return family
