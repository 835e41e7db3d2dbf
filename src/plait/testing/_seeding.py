"""Seeding plait's one random source."""

from __future__ import annotations

from .._core._random import seed_plait_random


def seed_randomness(seed: int | None) -> None:
    """Seed the random source all of plait draws from.

    Retry and restart backoff jitter, scheduler jitter and ``every``'s jitter
    all draw from it, so after the same seed they draw the same delays.
    ``fuzz_schedule`` seeds it too. ``None`` reseeds it from the operating
    system.

    Args:
        seed: an int, or ``None`` for fresh randomness.

    Example:
        >>> import plait
        >>> from plait.testing import seed_randomness
        >>> policy = plait.RetryPolicy(base_delay=1.0, jitter=1.0)
        >>> seed_randomness(7)
        >>> first = [policy.delay(n) for n in (1, 2, 3)]
        >>> seed_randomness(7)
        >>> [policy.delay(n) for n in (1, 2, 3)] == first
        True
        >>> seed_randomness(None)
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    seed_plait_random(seed)
