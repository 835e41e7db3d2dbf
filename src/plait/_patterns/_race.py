"""``race``: the first successful result wins, the rest are cancelled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from anyio import Event, move_on_after

from .._core._awaitables import (
    AwaitableOrFn,
    NotAwaitableError,
    add_origin_note,
    call_for_awaitable,
    check_awaitables,
    close_unstarted,
    is_awaitable,
)
from .._core._cancellation import is_cancelled, raised_while_cancelled
from .._core._checks import check_optional_seconds
from .._core._fuzz import current_fuzz_hook
from .._core._groups import KeepingTaskGroup, create_task_group

T = TypeVar("T")

_TASK_NAME = "plait.race contestant"


async def race(*aws: AwaitableOrFn[T], stagger: float | None = None) -> T:
    """Return the result of the first contestant to succeed; cancel the rest.

    Every other contestant has been cancelled and has finished before race
    returns. A contestant that raises an ``Exception``, or whose callable
    raises one when it is called, is out, but the race goes on while another
    can still win; a loser that fails on its own after the race was decided
    (even in the very loop iteration the winner returned) changes nothing.
    When every contestant has failed, race raises an ``ExceptionGroup`` of
    their errors, each with a note naming its contestant.

    An exception a contestant raises while it is being cancelled (in an
    ``except`` or ``finally`` block handling the cancellation: its cleanup
    failing) is never swallowed: it propagates in an ``ExceptionGroup``,
    whether race or an outer scope cancelled it, even though the winner's
    result is then lost. A ``BaseException`` that is not a cancellation
    (``SystemExit``, one of your own), raised by a contestant or by its
    callable when called, ends the race at once and propagates in a
    ``BaseExceptionGroup``, with or without ``stagger``. Cancelled from
    outside, race cancels every contestant, waits for them and propagates
    the cancellation, unless every contestant had failed by then (their
    group is raised) or a cleanup failed (its group is raised).

    Args:
        *aws: coroutine objects, awaitables, or zero-argument callables that
            return one. Callables are preferred with ``stagger``: one that
            never gets its turn is never called. Without ``stagger`` every
            callable is called at once, before any contestant starts.
        stagger: if given, contestant *i + 1* starts this many seconds after
            contestant *i*, or at once when *i* fails ("happy eyeballs").
            ``None`` starts them all at once.

    Returns:
        The winner's result.

    Raises:
        ValueError: no contestants, a negative ``stagger``, or a coroutine
            object given twice.
        TypeError: a contestant is neither awaitable nor callable, or a
            callable returns something not awaitable.
        ExceptionGroup: every contestant failed, or a contestant's cleanup
            failed while it was cancelled.
        BaseExceptionGroup: a contestant, or its callable, raised a
            ``BaseException`` that is not a cancellation.

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
    check_awaitables("race", aws)
    contest = _Race(aws, stagger)
    if stagger is None:
        # Every contestant starts now: call the callables now, so that one
        # returning something not awaitable is reported before anything runs.
        contest.prepare_all()
    winner: T = await contest.run()
    return winner


class _Race:
    def __init__(self, contestants: tuple[Any, ...], stagger: float | None) -> None:
        self.contestants = contestants
        self.stagger = stagger
        self.made: list[Awaitable[Any] | None] = []  # the awaitables, as made
        self.started = 0
        self.winner: list[Any] = []
        self.failures: list[Exception | None] = [None] * len(contestants)
        self.misuse: TypeError | None = None
        self.fuzz = current_fuzz_hook()

    def prepare_all(self) -> None:
        """Make every contestant awaitable now; misuse is raised at once."""
        try:
            for index, contestant in enumerate(self.contestants):
                self.made.append(self._make(index, contestant))
        except BaseException as exc:
            close_unstarted(self.made)
            close_unstarted(self.contestants)
            if isinstance(exc, Exception) or is_cancelled(exc):
                raise  # misuse (a TypeError at the call), or a cancellation
            # As with stagger, where the callable is called in the race's
            # task group: a BaseException ends the race in a group.
            raise BaseExceptionGroup(
                "race(): a contestant's callable raised", [exc]
            ) from None

    def _make(self, index: int, contestant: object) -> Awaitable[Any] | None:
        """Return *contestant* as an awaitable, or None if calling it failed.

        A callable that raises an ``Exception`` when called is a contestant
        that failed; one that returns something not awaitable is misuse, a
        TypeError for the caller.
        """
        if is_awaitable(contestant):
            return contestant  # type: ignore[return-value]
        call: Callable[[], object] = contestant  # type: ignore[assignment]
        try:
            made = call()
        except Exception as exc:
            add_origin_note(exc, "race", f"argument {index}", contestant)
            self.failures[index] = exc
            return None
        except BaseException as exc:
            add_origin_note(exc, "race", f"argument {index}", contestant)
            raise
        return call_for_awaitable("race", f"argument {index}", call, made)

    async def run(self) -> Any:
        try:
            async with create_task_group() as tg:
                if self.stagger is None:
                    self._start_all(tg)
                else:
                    await self._start_staggered(tg)
        except BaseException as exc:
            if is_cancelled(exc) and self._all_failed():
                raise self._all_failed_error() from None
            raise
        finally:
            close_unstarted(self.made[self.started :])
            close_unstarted(self.contestants[len(self.made) :])
        if self.misuse is not None:
            raise self.misuse
        if self.winner:
            return self.winner[0]
        raise self._all_failed_error()

    def _all_failed(self) -> bool:
        return all(failure is not None for failure in self.failures)

    def _all_failed_error(self) -> ExceptionGroup[Exception]:
        failures = [exc for exc in self.failures if exc is not None]
        return ExceptionGroup(
            f"race(): all {len(self.contestants)} contestants failed", failures
        )

    def _start_all(self, tg: KeepingTaskGroup) -> None:
        """Start every contestant (already made awaitable) at once."""
        contestant = self._contestant
        for index, aw in enumerate(self.made):
            if self.winner:  # an eager task factory ran one to the end already
                return
            self.started = index + 1
            if aw is not None:
                # Naming the task spares anyio from deriving a name per spawn.
                tg.create_task(contestant(tg, index, aw, None), name=_TASK_NAME)

    async def _start_staggered(self, tg: KeepingTaskGroup) -> None:
        """Start contestant i + 1 after ``stagger``, or at once when i fails."""
        last = len(self.contestants) - 1
        for index, contestant in enumerate(self.contestants):
            if self.winner:
                return
            try:
                aw = self._make(index, contestant)
            except NotAwaitableError as exc:
                self.misuse = exc
                tg.cancel_scope.cancel()
                return
            self.made.append(aw)
            self.started = index + 1
            if aw is None:
                continue  # calling it failed: the next one starts at once
            out = Event() if index < last else None
            tg.start_soon(self._contestant, tg, index, aw, out, name=_TASK_NAME)
            if out is not None:
                with move_on_after(self.stagger):
                    await out.wait()

    async def _contestant(
        self, tg: KeepingTaskGroup, index: int, aw: Awaitable[Any], out: Event | None
    ) -> None:
        try:
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
                if raised_while_cancelled(exc):
                    raise  # a cleanup failing: never swallowed
                self.failures[index] = exc
                if out is not None:
                    out.set()
                return
        except BaseException as exc:
            tg.keep(exc)
            raise
        if not self.winner:
            self.winner.append(value)
            tg.cancel_scope.cancel()
