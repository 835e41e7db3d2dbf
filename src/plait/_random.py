"""plait's one source of randomness.

Retry and restart jitter, scheduler jitter and schedule fuzzing all draw from
this generator, so seeding it (``plait.testing.seed_randomness``) makes a run
replay exactly.
"""

from __future__ import annotations

import random

_source = random.Random()


def plait_random() -> random.Random:
    """Return the random generator every part of plait draws from."""
    return _source


def seed_plait_random(seed: int | None) -> None:
    """Seed plait's random generator (``None`` reseeds from the OS)."""
    _source.seed(seed)
