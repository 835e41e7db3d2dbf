"""The lifecycle every task-group owner shares (``_core/_lifecycle.py``)."""

from __future__ import annotations

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
