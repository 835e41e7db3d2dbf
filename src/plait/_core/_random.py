"""plait's one source of randomness.

Retry and restart jitter, scheduler jitter and schedule fuzzing all draw from
this generator, so seeding it (``plait.testing.seed_randomness``) makes a run
replay exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

# Made on first use: importing `random` is a millisecond `import plait`
# need not pay before anything draws from it.
_source: random.Random | None = None


def plait_random() -> random.Random:
    """Return the random generator every part of plait draws from."""
    global _source
    if _source is None:
        import random

        _source = random.Random()
    return _source


def seed_plait_random(seed: int | None) -> None:
    """Seed plait's random generator (``None`` reseeds from the OS)."""
    plait_random().seed(seed)
