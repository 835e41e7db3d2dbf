"""current_backend and run."""

from __future__ import annotations

from typing import Any, get_args

import pytest

import plait


async def test_current_backend_names_the_running_library(
    anyio_backend: tuple[str, dict[str, Any]],
) -> None:
    assert plait.current_backend() == anyio_backend[0]


def test_current_backend_outside_a_loop_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="running event loop"):
        plait.current_backend()


async def _backend_and(value: int) -> tuple[str, int]:
    await plait.sleep(0)
    return plait.current_backend(), value


@pytest.mark.parametrize(
    ("backend", "expected"),
    [("asyncio", "asyncio"), ("uvloop", "asyncio"), ("trio", "trio")],
)
def test_run_on_each_backend(backend: str, expected: str) -> None:
    assert plait.run(_backend_and, 7, backend=backend) == (expected, 7)


def test_run_on_uvloop_uses_uvloops_loop() -> None:
    async def loop_module() -> str:
        import asyncio

        return type(asyncio.get_running_loop()).__module__

    assert plait.run(loop_module, backend="uvloop").startswith("uvloop")
    assert not plait.run(loop_module, backend="asyncio").startswith("uvloop")


def test_run_rejects_an_unknown_backend() -> None:
    with pytest.raises(ValueError, match="backend must be one of"):
        plait.run(_backend_and, 1, backend="curio")


def test_run_takes_a_backend_named_at_run_time() -> None:
    # Any str type-checks, as with anyio.run: a name read from argv or config.
    names: list[str] = list(get_args(plait.EventLoopName))
    assert names == ["asyncio", "uvloop", "trio"]
    for name in names:
        assert plait.run(_backend_and, 1, backend=name)[1] == 1


def test_run_rejects_a_backend_that_is_not_a_str() -> None:
    backend: object = 3
    with pytest.raises(TypeError, match=r"run\(\) backend must be one of .*, got 3"):
        plait.run(_backend_and, 1, backend=backend)  # type: ignore[arg-type]


def test_run_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="fn must be an async function"):
        plait.run(42)  # type: ignore[arg-type]
