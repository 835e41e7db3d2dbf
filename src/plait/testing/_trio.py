"""Virtual time and seeded scheduling for trio.

This module imports trio, which is why it is exempt from plait's import ban;
it is imported only when a test runs on trio. Private item it relies on
(checked by ``tests/test_testing_backends.py`` against the installed trio):

- ``trio._core._run._r``: the ``random.Random`` trio's scheduler uses to
  shuffle each batch of runnable tasks. trio registers it with hypothesis,
  which seeds it per example; outside hypothesis nothing public seeds it, so
  a fuzzing seed that should replay a trio run exactly must seed it here.

Virtual time itself uses only public trio: ``trio.testing.MockClock`` with
``autojump_threshold=0`` and an ``Instrument`` that watches worker threads.
"""

from __future__ import annotations

import math
import random
from typing import Any

import anyio.to_thread
import trio
import trio.testing
from trio._core import _run as _trio_run  # pyright: ignore[reportPrivateUsage]


def scheduler_random() -> random.Random:
    """Return the generator trio's scheduler shuffles runnable tasks with."""
    generator = _trio_run._r  # pyright: ignore[reportPrivateUsage]
    if not isinstance(generator, random.Random):  # pragma: no cover - trio change
        raise RuntimeError(
            "plait.testing cannot seed this trio's scheduler: trio._core._run._r "
            f"is {generator!r}, not a random.Random; please report this"
        )
    return generator


class _ThreadWatcher(trio.abc.Instrument):
    """Make the clock follow real time while anyio worker threads run.

    A task borrows the thread limiter's token in a task step, and returns it
    in another one; checking after each step switches the clock before the
    run loop next decides whether to jump.
    """

    def __init__(self, clock: trio.testing.MockClock, *, autojump: bool) -> None:
        self.clock = clock
        self.autojump = autojump
        self.following_threads = False

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if not self.autojump:
            return
        try:
            busy = anyio.to_thread.current_default_thread_limiter().borrowed_tokens
        except Exception:
            return
        if busy and not self.following_threads:
            self.following_threads = True
            self.clock.autojump_threshold = math.inf
            self.clock.rate = 1.0
        elif not busy and self.following_threads:
            self.following_threads = False
            self.clock.rate = 0.0
            self.clock.autojump_threshold = 0.0


class TrioTime:
    """A ``MockClock`` plus the instrument that keeps threads honest."""

    def __init__(self, *, autojump: bool) -> None:
        self.mock = trio.testing.MockClock(
            autojump_threshold=0 if autojump else math.inf
        )
        self.watcher = _ThreadWatcher(self.mock, autojump=autojump)

    def options(self) -> dict[str, Any]:
        return {"clock": self.mock, "instruments": [self.watcher]}

    def now(self) -> float:
        return self.mock.current_time()

    def advance(self, seconds: float) -> None:
        self.mock.jump(seconds)

    def set_autojump(self, autojump: bool) -> None:
        self.watcher.autojump = autojump
        self.watcher.following_threads = False
        self.mock.rate = 0.0
        self.mock.autojump_threshold = 0 if autojump else math.inf


def running_mock_clock() -> object:
    """Return the running trio run's clock object."""
    return trio.lowlevel.current_clock()
