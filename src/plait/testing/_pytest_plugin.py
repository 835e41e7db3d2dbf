"""pytest plugin for plait.testing (registered by the ``pytest11`` entry point).

Nothing here changes a test that does not opt in. A test opts in with:

- ``@pytest.mark.virtual_time`` (or ``virtual_time(autojump=False)``), or by
  requesting the ``clock`` fixture: the test's ``anyio_backend`` then carries a
  fresh ``VirtualClock`` (asyncio: plait's virtual-time loop; trio:
  ``MockClock``), and ``clock`` is that clock. On uvloop, which cannot have
  virtual time, the test runs on real time and ``clock`` is a ``RealClock``.
  The ``anyio_backend`` fixture must be function-scoped (anyio's default one
  is module-scoped): ``@pytest.fixture(params=[...]) def anyio_backend(...)``.
- ``@pytest.mark.fuzz_schedule`` (its keyword arguments go to
  ``fuzz_schedule``), or requesting the ``fuzzer`` fixture: the test runs
  once per seed (``--plait-seeds N``, default 1, starting at
  ``--plait-seed S``, default 0, or ``random``) inside
  ``fuzz_schedule(seed)``; a failure report names the seed and the options
  that replay it. Requesting only ``fuzz_seed`` gives the parametrized seed
  without installing the fuzzer.

With hypothesis' ``@given`` on an async test, every example runs on a new
event loop but the same clock, whose time keeps moving forward: compare
differences of ``clock.now()``, not absolute instants, and read the clock with
``plait.testing.current_clock()`` (hypothesis rejects function-scoped
fixtures in ``@given`` tests). For a fresh fuzzing seed per example, draw it
with ``plait.testing.fuzz_seeds()`` rather than using the ``fuzzer`` fixture.

Example (a test module):

    import anyio, plait, pytest

    @pytest.mark.virtual_time
    async def test_timeout(clock):
        timeout = 30 if clock.virtual else 0.05  # real time on uvloop
        start = clock.now()
        with pytest.raises(TimeoutError):
            with anyio.fail_after(timeout):
                await anyio.sleep_forever()
        assert clock.now() - start == clock.approx(timeout)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterator
from typing import Any, cast

import pytest

from ._clock import RealClock, VirtualClock
from ._fuzzing import ScheduleFuzzer, fuzz_schedule

_clock_key = pytest.StashKey[VirtualClock]()
_seed_key = pytest.StashKey[int]()
_first_seed_key = pytest.StashKey[int]()

_SCOPE_FIX = (
    "virtual time needs a function-scoped anyio_backend fixture, because each "
    "test gets its own clock; define one in conftest.py, e.g.\n"
    "    @pytest.fixture(params=['asyncio', 'trio'])\n"
    "    def anyio_backend(request): return request.param"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("plait", "plait.testing")
    group.addoption(
        "--plait-seeds",
        type=int,
        default=1,
        metavar="N",
        help="run each schedule-fuzzing test under N seeds (default 1)",
    )
    group.addoption(
        "--plait-seed",
        default="0",
        metavar="SEED",
        help="first fuzzing seed, or 'random' (default 0); replays a reported seed",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "virtual_time(autojump=True): run the async test on plait's virtual clock "
        "(real time on uvloop); the `clock` fixture reads it",
    )
    config.addinivalue_line(
        "markers",
        "fuzz_schedule(probability=0.5, max_switches=3): run the test under "
        "plait.testing.fuzz_schedule, once per seed (--plait-seeds)",
    )
    seeds = config.getoption("--plait-seeds", default=1)
    if not isinstance(seeds, int) or seeds < 1:
        raise pytest.UsageError(f"--plait-seeds must be a positive int, got {seeds!r}")
    first = str(config.getoption("--plait-seed", default="0"))
    if first == "random":
        config.stash[_first_seed_key] = random.SystemRandom().randrange(2**31)
    else:
        try:
            config.stash[_first_seed_key] = int(first)
        except ValueError:
            raise pytest.UsageError(
                f"--plait-seed must be an int or 'random', got {first!r}"
            ) from None


def pytest_report_header(config: pytest.Config) -> str | None:
    seeds = config.getoption("--plait-seeds", default=1)
    first = config.stash.get(_first_seed_key, 0)
    return f"plait fuzzing: {seeds} seed(s) from {first}"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> None:
    if not collector.istestfunction(obj, name):
        return
    own = {mark.name for mark in getattr(obj, "pytestmark", ())}
    if "fuzz_schedule" in own or collector.get_closest_marker("fuzz_schedule"):
        pytest.mark.usefixtures("fuzzer")(obj)
    if "virtual_time" in own or collector.get_closest_marker("virtual_time"):
        pytest.mark.usefixtures("clock")(obj)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fuzz_seed" not in metafunc.fixturenames:
        return
    count = cast(int, metafunc.config.getoption("--plait-seeds", default=1))
    first = metafunc.config.stash.get(_first_seed_key, 0)
    seeds = [(first + n) % 2**32 for n in range(count)]
    metafunc.parametrize(
        "fuzz_seed", seeds, ids=[f"seed={s}" for s in seeds], indirect=True
    )


def _wants_virtual_time(item: pytest.Item) -> bool:
    if item.get_closest_marker("virtual_time") is not None:
        return True
    if "clock" not in getattr(item, "fixturenames", ()):
        return False
    # A suite's own fixture named `clock` overrides ours and opts nothing in.
    # pytest has no public way to ask which definition wins; if its private
    # record moves, assume ours.
    info = getattr(item, "_fixtureinfo", None)
    definitions = getattr(info, "name2fixturedefs", {}).get("clock", ())
    if definitions:
        func = getattr(definitions[-1], "func", None)
        return getattr(func, "__module__", __name__) == __name__
    return True


def _autojump(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("virtual_time")
    autojump = True if marker is None else marker.kwargs.get("autojump", True)
    if marker is not None and (marker.args or set(marker.kwargs) - {"autojump"}):
        raise pytest.UsageError(
            f"{item.nodeid}: virtual_time takes only autojump=..., got "
            f"args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    if not isinstance(autojump, bool):
        raise pytest.UsageError(
            f"virtual_time(autojump=...) must be a bool, got {autojump!r}"
        )
    return autojump


def _items(value: object) -> tuple[object, ...]:
    return cast("tuple[object, ...]", value) if isinstance(value, tuple) else ()


def _with_clock(value: object, item: pytest.Item) -> object:
    pair = _items(value)
    options: dict[str, Any]
    if isinstance(value, str):
        name, options = value, {}
    elif len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], dict):
        name, options = pair[0], dict(cast("dict[str, Any]", pair[1]))
    else:
        return value  # anyio reports a malformed anyio_backend itself
    if name == "asyncio" and options.get("use_uvloop"):
        return value  # real time; the clock fixture hands out a RealClock
    if name not in ("asyncio", "trio"):
        return value
    taken = "loop_factory" if name == "asyncio" else "clock"
    if taken in options:
        raise pytest.UsageError(
            f"{item.nodeid}: virtual time cannot replace the {taken!r} your "
            f"anyio_backend already sets ({options[taken]!r})"
        )
    clock = VirtualClock(autojump=_autojump(item))
    options.update(clock.backend_options(name))
    item.stash[_clock_key] = clock
    return (name, options)


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Iterator[None]:
    # A wider-scoped anyio_backend is shared by tests, so it cannot carry
    # one test's clock; the clock fixture then fails with the fix.
    item = request.node
    if (
        fixturedef.argname != "anyio_backend"
        or fixturedef.scope != "function"
        or not isinstance(item, pytest.Item)
        or not _wants_virtual_time(item)
    ):
        yield
        return
    original: Callable[..., object] = fixturedef.func

    def with_clock(*args: Any, **kwargs: Any) -> object:
        return _with_clock(original(*args, **kwargs), item)

    fixturedef.func = with_clock
    try:
        yield
    finally:
        fixturedef.func = original


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> VirtualClock | RealClock:
    """The test's clock: a ``VirtualClock``, or a ``RealClock`` on uvloop.

    Requesting it (or marking the test ``@pytest.mark.virtual_time``) puts an
    async test on virtual time. In a sync test it is a fresh ``VirtualClock``
    to pass to ``plait.testing.run(..., virtual_time=clock)``.
    """
    node = request.node
    if "anyio_backend" not in request.fixturenames:
        return VirtualClock(autojump=_autojump(node))
    # Setting anyio_backend up is what puts the clock in the stash.
    backend: object = request.getfixturevalue("anyio_backend")
    found: VirtualClock | None = node.stash.get(_clock_key, None)
    if found is not None:
        return found
    if isinstance(backend, tuple) and cast("tuple[str, dict[str, Any]]", backend)[
        1
    ].get("use_uvloop"):
        return RealClock()
    pytest.fail(f"no virtual clock reached anyio_backend={backend!r}: {_SCOPE_FIX}")


@pytest.fixture
def fuzz_seed(request: pytest.FixtureRequest) -> int:
    """The fuzzing seed this run of the test uses (see ``--plait-seeds``)."""
    param = getattr(request, "param", None)
    seed = param if isinstance(param, int) else request.config.stash[_first_seed_key]
    request.node.stash[_seed_key] = seed
    return seed


@pytest.fixture
def fuzzer(request: pytest.FixtureRequest, fuzz_seed: int) -> Iterator[ScheduleFuzzer]:
    """Run the test under ``fuzz_schedule(fuzz_seed)``; yields the fuzzer."""
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend")
        if backend == "trio" or (isinstance(backend, tuple) and backend[0] == "trio"):
            # Loaded first so that fuzz_schedule seeds trio's scheduler too.
            from . import _trio  # noqa: F401  # pyright: ignore[reportUnusedImport]
    marker = request.node.get_closest_marker("fuzz_schedule")
    options = {} if marker is None else dict(marker.kwargs)
    with fuzz_schedule(fuzz_seed, **options) as active:
        yield active


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    seed = item.stash.get(_seed_key, None)
    if seed is not None and report.failed:
        report.sections.append(
            (
                "plait schedule fuzzing",
                f"failed with seed {seed}; replay with "
                f"--plait-seed={seed} --plait-seeds=1",
            )
        )
