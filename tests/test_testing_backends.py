"""The backend glue's private dependencies, the plugin, and import hygiene.

``plait/testing/_asyncio.py`` and ``_trio.py`` name the private items they
rely on; these tests fail first when a new Python, anyio or trio moves them.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
from typing import Literal, get_origin

import anyio
import anyio.lowlevel
import pytest
import trio

from plait.testing import VirtualClock, run
from plait.testing._asyncio import VirtualTimeEventLoop
from plait.testing._trio import scheduler_random


class TestAsyncioInternals:
    def test_loop_has_the_selector_and_timer_heap_we_wrap(self) -> None:
        loop = VirtualTimeEventLoop.__new__(VirtualTimeEventLoop)
        asyncio.SelectorEventLoop.__init__(loop)
        try:
            assert hasattr(loop, "_selector")
            assert isinstance(loop._scheduled, list)  # type: ignore[attr-defined]
        finally:
            loop.close()

    def test_timer_handles_report_their_instant(self) -> None:
        clock = VirtualClock()
        options = clock.backend_options("asyncio")
        loop = options["loop_factory"]()
        try:
            handle = loop.call_later(2.5, lambda: None)
            assert handle.when() == 2.5
            handle.cancel()
        finally:
            loop.close()

    def test_loop_closes_its_selector(self) -> None:
        loop = VirtualClock().backend_options("asyncio")["loop_factory"]()
        loop.close()
        assert loop.is_closed()


class TestTrioInternals:
    def test_scheduler_random_is_trios_generator(self) -> None:
        from trio._core import _run

        assert scheduler_random() is _run._r
        assert isinstance(scheduler_random(), random.Random)

    def test_seeding_it_replays_trios_batch_shuffles(self) -> None:
        async def order() -> list[int]:
            seen: list[int] = []

            async def worker(n: int) -> None:
                await trio.lowlevel.checkpoint()
                seen.append(n)

            async with trio.open_nursery() as nursery:
                for n in range(8):
                    nursery.start_soon(worker, n)
            return seen

        def seeded(seed: int) -> list[int]:
            scheduler_random().seed(seed)
            return trio.run(order)

        assert seeded(5) == seeded(5)
        assert len({tuple(seeded(s)) for s in range(10)}) > 1

    def test_mock_clock_is_used_through_public_api(self) -> None:
        options = VirtualClock().backend_options("trio")
        assert isinstance(options["clock"], trio.testing.MockClock)
        assert options["clock"].autojump_threshold == 0
        assert all(isinstance(i, trio.abc.Instrument) for i in options["instruments"])


def test_importing_plait_testing_imports_no_optional_dependency() -> None:
    code = textwrap.dedent(
        """
        import sys
        import plait, plait.testing
        loaded = {"trio", "hypothesis", "pytest", "uvloop"} & set(sys.modules)
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_names_report_plait_testing() -> None:
    import plait.testing

    for name in plait.testing.__all__:
        if name == "TimelineEventKind":  # a type alias: typing's own object
            assert get_origin(plait.testing.TimelineEventKind) is Literal
            continue
        assert getattr(plait.testing, name).__module__ == "plait.testing", name
    assert list(plait.testing.__all__) == sorted(plait.testing.__all__)


def test_run_on_asyncio_uses_plaits_loop_only_when_virtual() -> None:
    async def loop_type() -> str:
        await anyio.lowlevel.checkpoint()
        return type(asyncio.get_running_loop()).__name__

    assert run(loop_type) == "VirtualTimeEventLoop"
    assert run(loop_type, virtual_time=False) != "VirtualTimeEventLoop"


USER_CONFTEST = """
import pytest

@pytest.fixture(params=["asyncio", "trio", ("asyncio", {"use_uvloop": True})])
def anyio_backend(request):
    return request.param
"""

USER_TESTS = """
import anyio, pytest
from plait.testing import RealClock, VirtualClock

@pytest.mark.anyio
@pytest.mark.virtual_time
async def test_marker(clock):
    before = clock.now()
    await anyio.sleep(3600 if clock.virtual else 0.01)
    assert clock.now() - before == clock.approx(3600 if clock.virtual else 0.01)

@pytest.mark.anyio
async def test_fixture_alone_opts_in(clock, anyio_backend):
    from plait.testing import current_clock
    await anyio.sleep(0.01)
    if anyio_backend[1].get("use_uvloop"):
        assert isinstance(clock, RealClock)
    else:
        assert isinstance(clock, VirtualClock)
        assert current_clock() is clock
        assert clock.now() == 0.01

@pytest.mark.anyio
async def test_untouched_without_opting_in(anyio_backend):
    from plait.testing import current_clock
    assert isinstance(current_clock(), RealClock)
"""


def test_user_suite_opts_in_by_marker_or_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(USER_TESTS)
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=9)


def test_module_scoped_anyio_backend_gets_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import anyio, pytest

        @pytest.mark.anyio
        @pytest.mark.virtual_time
        async def test_marker(clock):
            await anyio.sleep(1)
        """
    )
    result = pytester.runpytest("-p", "no:trio")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*needs a function-scoped anyio_backend fixture*"])


def test_virtual_time_marker_arguments_are_checked(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.anyio
        @pytest.mark.virtual_time(autojump="yes")
        async def test_marker(clock):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*virtual_time(autojump=...) must be a bool*"])


def test_own_loop_factory_conflicts_clearly(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import asyncio, pytest

        @pytest.fixture
        def anyio_backend():
            return ("asyncio", {"loop_factory": asyncio.new_event_loop})
        """
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.anyio
        @pytest.mark.virtual_time
        async def test_marker(clock):
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*cannot replace the 'loop_factory'*"])


def test_a_suites_own_clock_fixture_opts_nothing_in(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        USER_CONFTEST
        + """
@pytest.fixture
def clock():
    return "the suite's own clock"
"""
    )
    pytester.makepyfile(
        """
        import pytest
        from plait.testing import RealClock, current_clock

        @pytest.mark.anyio
        async def test_own_clock(clock):
            assert clock == "the suite's own clock"
            assert isinstance(current_clock(), RealClock)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)


def test_one_list_of_event_loops_for_anyio_and_run() -> None:
    from plait.testing import anyio_backend_for, backends

    assert backends() == ("asyncio", "uvloop", "trio")  # all installed here
    assert [anyio_backend_for(name) for name in backends()] == [
        ("asyncio", {}),
        ("asyncio", {"use_uvloop": True}),
        ("trio", {}),
    ]
    with pytest.raises(ValueError, match=r"anyio_backend_for\(\) name must be one of"):
        anyio_backend_for("curio")  # type: ignore[arg-type]
