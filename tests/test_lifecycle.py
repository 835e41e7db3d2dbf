"""The lifecycle every task-group owner shares (``_core/_lifecycle.py``)."""

from __future__ import annotations

from typing import Literal

import anyio
import pytest
from anyio.abc import TaskGroup

import plait
import plait.testing
from plait._core._lifecycle import TaskGroupOwner


class Owner(TaskGroupOwner):
    """Runs one background task; records that its shutdown ran."""

    def __init__(self, *, fail_in_background: bool = False) -> None:
        self.fail_in_background = fail_in_background
        self.closed = False
        self.started = anyio.Event()
        self.background_done = False

    async def _open(self, tg: TaskGroup) -> None:
        tg.start_soon(self._work)

    async def _close(self) -> None:
        await anyio.sleep(0)  # a shielded checkpoint: cancellation cannot cut it
        self.closed = True

    async def _work(self) -> None:
        self.started.set()
        try:
            if self.fail_in_background:
                raise OSError("background")
            await anyio.sleep_forever()
        finally:
            self.background_done = True


async def test_entered_twice_is_refused_naming_the_class() -> None:
    owner = Owner()
    async with owner:
        # anyio's mixin refuses a nested entry before plait's guard runs.
        with pytest.raises(RuntimeError, match="Owner has already been entered"):
            async with owner:
                pass
    with pytest.raises(RuntimeError, match="entered only once"):
        async with owner:
            pass


async def test_the_block_error_leaves_as_itself_after_shutdown() -> None:
    owner = Owner()
    with pytest.raises(ValueError, match="block"):
        async with owner:
            await owner.started.wait()
            raise ValueError("block")
    assert owner.closed
    assert owner.background_done


async def test_a_cancelled_block_still_shuts_down_and_the_scope_catches_it() -> None:
    owner = Owner()
    with anyio.move_on_after(0.01) as scope:
        async with owner:
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert owner.closed
    assert owner.background_done


async def test_background_failure_leaves_as_a_group() -> None:
    owner = Owner(fail_in_background=True)
    with pytest.raises(ExceptionGroup) as info:
        async with owner:
            await anyio.sleep_forever()
    assert [type(e) for e in info.value.exceptions] == [OSError]
    assert owner.closed


async def test_block_error_and_background_failure_are_both_kept() -> None:
    class FailsOnClose(Owner):
        async def _close(self) -> None:
            self.closed = True

        async def _work(self) -> None:
            self.started.set()
            try:
                await anyio.sleep_forever()
            finally:
                raise OSError("cleanup")

    owner = FailsOnClose()
    with pytest.raises(ExceptionGroup) as info:
        async with owner:
            await owner.started.wait()
            raise ValueError("block")
    assert [type(e) for e in info.value.exceptions] == [ValueError, OSError]


async def test_a_normal_exit_leaves_nothing_running() -> None:
    async with plait.testing.assert_no_leaked_tasks(), Owner() as owner:
        await owner.started.wait()
    assert owner.closed
    assert owner.background_done


class GivesUp(Owner):
    """An owner whose shutdown reports a failure of its own, as a give-up does."""

    def __init__(self, *, cancel_block: bool = False, **kwargs: bool) -> None:
        super().__init__(**kwargs)
        self.cancel_block = cancel_block
        self.error = LookupError("gave up")

    async def _open(self, tg: TaskGroup) -> None:
        await super()._open(tg)
        if self.cancel_block:
            tg.cancel_scope.cancel()  # the owner stops the block, as a give-up does

    async def _close(self) -> None:
        await super()._close()
        raise self.error


async def test_the_owners_own_failure_leaves_as_itself() -> None:
    owner = GivesUp()
    with pytest.raises(LookupError) as info:
        async with plait.testing.assert_no_leaked_tasks(), owner:
            await owner.started.wait()
    assert info.value is owner.error
    assert owner.closed
    assert owner.background_done


async def test_the_owners_own_failure_after_it_cancelled_the_block() -> None:
    owner = GivesUp(cancel_block=True)
    with pytest.raises(LookupError) as info:
        async with owner:
            await anyio.sleep_forever()
    assert info.value is owner.error
    assert owner.background_done


async def test_the_owners_own_failure_wins_over_an_outer_cancellation() -> None:
    owner = GivesUp()
    with pytest.raises(LookupError), anyio.CancelScope() as outer:
        async with owner:
            outer.cancel()
            await anyio.sleep_forever()
    assert not outer.cancelled_caught
    assert owner.background_done


async def test_block_error_then_the_owners_own_failure() -> None:
    owner = GivesUp()
    with pytest.raises(ExceptionGroup) as info:
        async with owner:
            raise ValueError("block")
    assert [type(e) for e in info.value.exceptions] == [ValueError, LookupError]
    assert "block and the work it owned both failed" in str(info.value)


async def test_the_owners_own_failure_with_a_background_failure() -> None:
    owner = GivesUp(fail_in_background=True)
    with pytest.raises(ExceptionGroup) as info:
        async with owner:
            await anyio.sleep_forever()
    assert [type(e) for e in info.value.exceptions] == [LookupError, OSError]


@pytest.mark.parametrize("backend", ["asyncio", "uvloop"])
def test_a_task_cancel_cutting_close_short_loses_to_a_failure(
    backend: Literal["asyncio", "uvloop"],
) -> None:
    """asyncio's Task.cancel() reaches through shields; the failure still wins."""
    import asyncio

    class FailsWhileClosing(Owner):
        closing: anyio.Event

        async def _open(self, tg: TaskGroup) -> None:
            self.closing = anyio.Event()
            await super()._open(tg)

        async def _close(self) -> None:
            self.closing.set()
            await anyio.sleep(10)  # shielded, but not from Task.cancel()

        async def _work(self) -> None:
            self.started.set()
            await self.closing.wait()
            raise OSError("while closing")

    async def main() -> BaseException | None:
        owner = FailsWhileClosing()

        async def body() -> None:
            async with owner:
                await owner.started.wait()

        task = asyncio.ensure_future(body())
        await owner.started.wait()
        await owner.closing.wait()
        await anyio.wait_all_tasks_blocked()
        task.cancel()
        await asyncio.wait({task})
        assert not task.cancelled()
        return task.exception()

    error = plait.testing.run(main, backend=backend, virtual_time=False)
    assert isinstance(error, ExceptionGroup)
    assert [type(e) for e in error.exceptions] == [OSError]


class HoldsItsExit(Owner):
    """Background work that takes a while to end once cancelled (it shields)."""

    async def _work(self) -> None:
        self.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.2)
            self.background_done = True


@pytest.mark.virtual_time
async def test_an_outer_cancellation_at_the_groups_exit_loses_to_the_block_error() -> (
    None
):
    owner = HoldsItsExit()
    with pytest.raises(ValueError, match="block"), anyio.move_on_after(0.1) as outer:
        async with owner:
            await owner.started.wait()
            raise ValueError("block")  # then the deadline fires during the exit
    assert outer.cancel_called
    assert owner.background_done


@pytest.mark.virtual_time
async def test_an_outer_cancellation_at_the_groups_exit_loses_to_the_owners_own() -> (
    None
):
    class GivesUpAndHolds(HoldsItsExit, GivesUp):
        pass

    owner = GivesUpAndHolds()
    with pytest.raises(LookupError), anyio.move_on_after(0.1) as outer:
        async with owner:
            await owner.started.wait()
    assert outer.cancel_called
    assert owner.background_done


async def test_a_task_cancel_on_the_way_out_does_not_replace_the_block_error() -> None:
    """asyncio's Task.cancel() gets through a shield; the block's error still wins."""
    if plait.current_backend() == "trio":
        pytest.skip("native task cancellation is asyncio's")
    import asyncio

    host = asyncio.current_task()
    assert host is not None
    owner = Owner()
    with pytest.raises(ValueError, match="block"):
        async with owner:
            await owner.started.wait()
            # Delivered while the owner waits for its work to stop.
            asyncio.get_running_loop().call_soon(host.cancel)
            raise ValueError("block")
    # The cancellation cut _close short (a shield keeps out cancel scopes,
    # not Task.cancel()), yet the group was exited: nothing runs on.
    assert owner.background_done
    host.uncancel()


async def test_release_runs_after_the_group_and_its_error_is_kept() -> None:
    class Releasing(Owner):
        released_with_work_done: bool | None = None

        async def _closed(self) -> None:
            self.released_with_work_done = self.background_done
            raise OSError("release")

    owner = Releasing()
    with pytest.raises(OSError, match="release"):
        async with owner:
            await owner.started.wait()
    assert owner.released_with_work_done is True
    owner = Releasing()
    with pytest.RaisesGroup(ValueError, OSError):
        async with owner:
            await owner.started.wait()
            raise ValueError("block")
