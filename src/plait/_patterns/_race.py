"""``race``: the first successful result wins, the rest are cancelled."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from anyio import Event, create_task_group, move_on_after
from anyio.abc import TaskGroup

from .._core._awaitables import (
    AwaitableOrFn,
    add_origin_note,
    check_awaitables,
    close_unstarted,
    prepare_all,
    to_awaitable,
)
from .._core._checks import check_optional_seconds
from .._core._fuzz import current_fuzz_hook

T = TypeVar("T")

_TASK_NAME = "plait.race contestant"


async def race(*aws: AwaitableOrFn[T], stagger: float | None = None) -> T:
    """Return the result of the first contestant to succeed; cancel the rest.

    Every other contestant has been cancelled and has finished before race
    returns. A contestant that raises an ``Exception`` is out, but the race
    goes on while another can still win. A ``BaseException`` that is not a
    cancellation (KeyboardInterrupt, SystemExit) ends the race at once and
    propagates. An error a loser raises after the race was decided (while
    being cancelled) is not swallowed: it propagates in an ExceptionGroup.

    Args:
        *aws: coroutine objects, awaitables, or zero-argument callables that
            return one. Callables are preferred with ``stagger``: one that
            never gets its turn is never called.
        stagger: if given, contestant *i + 1* starts this many seconds after
            contestant *i*, or at once when *i* fails ("happy eyeballs").
            ``None`` starts them all at once.

    Returns:
        The winner's result.

    Raises:
        ValueError: no contestants, or a negative ``stagger``.
        TypeError: a contestant is neither awaitable nor callable, or a
            callable returns something not awaitable.
        ExceptionGroup: every contestant failed (each error carries a note
            naming its contestant).

    Example:
        >>> import anyio, plait
        >>> async def answer(delay: float, text: str) -> str:
        ...     await anyio.sleep(delay)
        ...     return text
        >>> async def main() -> str:
        ...     return await plait.race(answer(1, "slow"), answer(0, "fast"))
        >>> anyio.run(main)
        'fast'
    """
    check_optional_seconds("race()", "stagger", stagger)
    if not aws:
        raise ValueError("race() needs at least one contestant")
    if stagger is None:
        # No stagger: every contestant starts now, so call the callables now
        # and report a bad one before anything runs.
        winner: T = await _Race(tuple(prepare_all("race", aws)), None).run()
    else:
        check_awaitables("race", aws)
        winner = await _Race(aws, stagger).run()
    return winner


class _Race:
    def __init__(self, contestants: tuple[Any, ...], stagger: float | None) -> None:
        self.contestants = contestants
        self.stagger = stagger
        self.started = 0
        self.winner: list[Any] = []
        self.failures: list[Exception | None] = [None] * len(contestants)
        self.misuse: TypeError | None = None
        self.fuzz = current_fuzz_hook()

    async def run(self) -> Any:
        try:
            async with create_task_group() as tg:
                if self.stagger is None:
                    self._start_all(tg)
                else:
                    await self._start_staggered(tg)
        finally:
            close_unstarted(self.contestants[self.started :])
        if self.misuse is not None:
            raise self.misuse
        if self.winner:
            return self.winner[0]
        failures = [exc for exc in self.failures if exc is not None]
        raise ExceptionGroup(
            f"race(): all {len(self.contestants)} contestants failed", failures
        )

    def _start_all(self, tg: TaskGroup) -> None:
        """Start every contestant (already made awaitable) at once."""
        contestant = self._contestant
        for index, aw in enumerate(self.contestants):
            if self.winner:  # an eager task factory ran one to the end already
                return
            self.started = index + 1
            # Naming the task spares anyio from deriving a name per spawn.
            tg.create_task(contestant(tg, index, aw, None), name=_TASK_NAME)

    async def _start_staggered(self, tg: TaskGroup) -> None:
        """Start contestant i + 1 after ``stagger``, or at once when i fails."""
        last = len(self.contestants) - 1
        for index, contestant in enumerate(self.contestants):
            if self.winner:
                return
            try:
                aw = to_awaitable("race", f"argument {index}", contestant)
            except TypeError as exc:
                self.misuse = exc
                tg.cancel("race: bad contestant")
                return
            self.started = index + 1
            out = Event() if self.stagger is not None and index < last else None
            tg.start_soon(self._contestant, tg, index, aw, out)
            if out is not None:
                with move_on_after(self.stagger):
                    await out.wait()

    async def _contestant(
        self, tg: TaskGroup, index: int, aw: Awaitable[Any], out: Event | None
    ) -> None:
        fuzz = self.fuzz
        if fuzz is not None:
            try:
                await fuzz("task_start")
            except BaseException:
                close_unstarted((aw,))
                raise
        try:
            value = await aw
        except Exception as exc:
            add_origin_note(exc, "race", f"argument {index}", aw)
            if self.winner:
                raise  # a loser failing while cancelled: never swallow it
            self.failures[index] = exc
            if out is not None:
                out.set()
            return
        if not self.winner:
            self.winner.append(value)
            tg.cancel("race lost")
