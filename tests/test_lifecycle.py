"""The lifecycle every task-group owner shares (``_core/_lifecycle.py``)."""

from __future__ import annotations

import anyio
import pytest
from anyio.abc import TaskGroup

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
