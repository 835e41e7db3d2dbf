"""is_cancelled and non_cancel_subgroup on each backend's cancellation."""

from __future__ import annotations

import anyio

import plait


async def _caught_cancellation() -> BaseException:
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep(1)
        except BaseException as exc:
            return exc
    raise AssertionError("not cancelled")


async def test_backend_cancellation_is_cancelled() -> None:
    assert plait.is_cancelled(await _caught_cancellation())


async def test_ordinary_errors_are_not_cancelled() -> None:
    assert not plait.is_cancelled(ValueError())
    assert not plait.is_cancelled(KeyboardInterrupt())


async def test_group_of_only_cancellations_is_cancelled() -> None:
    c1, c2, c3 = [await _caught_cancellation() for _ in range(3)]
    nested = BaseExceptionGroup("outer", [BaseExceptionGroup("inner", [c1])])
    assert plait.is_cancelled(BaseExceptionGroup("g", [c2, c3]))
    assert plait.is_cancelled(nested)


async def test_group_with_a_real_error_is_not_cancelled() -> None:
    cancelled = await _caught_cancellation()
    assert not plait.is_cancelled(BaseExceptionGroup("g", [cancelled, OSError()]))


async def test_non_cancel_subgroup_keeps_structure_and_drops_cancellations() -> None:
    c1, c2 = await _caught_cancellation(), await _caught_cancellation()
    error = OSError("disk")
    error.add_note("kept")
    group = BaseExceptionGroup("outer", [c1, BaseExceptionGroup("inner", [error, c2])])
    rest = plait.non_cancel_subgroup(group)
    assert rest is not None
    assert rest.message == "outer"
    inner = rest.exceptions[0]
    assert isinstance(inner, BaseExceptionGroup)
    assert inner.exceptions == (error,)
    assert error.__notes__ == ["kept"]


async def test_non_cancel_subgroup_of_only_cancellations_is_none() -> None:
    cancelled = await _caught_cancellation()
    assert plait.non_cancel_subgroup(BaseExceptionGroup("g", [cancelled])) is None
