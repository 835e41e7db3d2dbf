"""pytest plugin for plait.testing (registered by the ``pytest11`` entry point).

Nothing here changes a test that does not opt in. A test opts in with:

- ``@pytest.mark.virtual_time`` (or ``virtual_time(autojump=False)``), or by
  requesting the ``clock`` fixture: the test's ``anyio_backend`` then carries a
  fresh ``VirtualClock`` (asyncio: plait's virtual-time loop; trio:
  ``MockClock``), and ``clock`` is that clock. On uvloop, which cannot have
  virtual time, the test runs on real time and ``clock`` is a ``RealClock``.
  The ``anyio_backend`` fixture must be function-scoped (anyio's default one
  is module-scoped): ``@pytest.fixture(params=[...]) def anyio_backend(...)``.
- ``@pytest.mark.fuzz_schedule`` (its keyword arguments, ``strategy``,
  ``probability`` and ``max_switches``, go to ``fuzz_schedule``), or
  requesting the ``fuzzer`` fixture: the test runs once per seed
  (``--plait-seeds N``, default 1, starting at ``--plait-seed S``, default
  0, or ``random``) with its schedule explored: an async test's own event
  loop (asyncio or trio, on virtual time or not) decides at every point a
  task yields which task goes next, and ``plait.testing.run`` calls in a
  sync test explore theirs. A failure report names the seed, the options
  that replay it and the last steps before the failure. uvloop cannot be
  explored: there the test runs once, unexplored, for the first seed, and
  is skipped for the others. Requesting only ``fuzz_seed`` gives the
  parametrized seed without exploring. ``--plait-explore`` explores every
  test so (except hypothesis tests, which can draw ``schedules()``).

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
from ._fuzzer import ScheduleFuzzer
from ._fuzzing import exploring
from ._policies import choose_strategy

_clock_key = pytest.StashKey[VirtualClock]()
_seed_key = pytest.StashKey[int]()
_first_seed_key = pytest.StashKey[int]()
_fuzzer_key = pytest.StashKey[ScheduleFuzzer]()
_unexplored_key = pytest.StashKey[str]()

_UVLOOP_SKIP = (
    "uvloop's scheduler cannot be explored: the test ran once, unexplored, "
    "under the first seed"
)

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
    group.addoption(
        "--plait-explore",
        action="store_true",
        help="explore every test's schedule, as if it were marked fuzz_schedule "
        "(hypothesis tests excepted: they can draw schedules())",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "virtual_time(autojump=True): run the async test on plait's virtual clock "
        "(real time on uvloop); the `clock` fixture reads it",
    )
    config.addinivalue_line(
        "markers",
        "fuzz_schedule(strategy='random', probability=None, max_switches=None): "
        "explore the test's schedule, once per seed (--plait-seeds)",
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
    return f"plait schedule exploration: {seeds} seed(s) from {first}"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> None:
    if not collector.istestfunction(obj, name):
        return
    own = {mark.name for mark in getattr(obj, "pytestmark", ())}
    everything = collector.config.getoption("--plait-explore", default=False)
    if (
        "fuzz_schedule" in own
        or collector.get_closest_marker("fuzz_schedule")
        or (everything and not hasattr(obj, "hypothesis"))
    ):
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


def _wants_exploration(item: pytest.Item) -> bool:
    return item.get_closest_marker("fuzz_schedule") is not None or "fuzzer" in getattr(
        item, "fixturenames", ()
    )


def _item_fuzzer(item: pytest.Item) -> ScheduleFuzzer:
    """Return the test's fuzzer, made from its seed and marker on first use."""
    fuzzer = item.stash.get(_fuzzer_key, None)
    if fuzzer is None:
        callspec = getattr(item, "callspec", None)
        params = getattr(callspec, "params", {})
        seed = params.get("fuzz_seed", item.config.stash[_first_seed_key])
        marker = item.get_closest_marker("fuzz_schedule")
        options = {} if marker is None else dict(marker.kwargs)
        unknown = set(options) - {"strategy", "probability", "max_switches"}
        if (marker is not None and marker.args) or unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: fuzz_schedule takes only strategy=..., "
                f"probability=..., max_switches=..., got "
                f"args={marker.args if marker else ()!r} kwargs={options!r}"
            )
        strategy = choose_strategy(
            "@pytest.mark.fuzz_schedule",
            options.get("strategy"),
            options.get("probability"),
            options.get("max_switches"),
        )
        fuzzer = item.stash[_fuzzer_key] = ScheduleFuzzer(seed, strategy=strategy)
    return fuzzer


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


def _uvloop_factory(options: dict[str, Any]) -> bool:
    module = getattr(options.get("loop_factory"), "__module__", None) or ""
    return module.split(".")[0] in ("uvloop", "winloop")


def _items(value: object) -> tuple[object, ...]:
    return cast("tuple[object, ...]", value) if isinstance(value, tuple) else ()


def _backend_value(value: object, item: pytest.Item) -> object:
    pair = _items(value)
    options: dict[str, Any]
    if isinstance(value, str):
        name, options = value, {}
    elif len(pair) == 2 and isinstance(pair[0], str) and isinstance(pair[1], dict):
        name, options = pair[0], dict(cast("dict[str, Any]", pair[1]))
    else:
        return value  # anyio reports a malformed anyio_backend itself
    if name == "asyncio" and (options.get("use_uvloop") or _uvloop_factory(options)):
        # Real time (the clock fixture hands out a RealClock), real schedule.
        if _wants_exploration(item):
            item.stash[_unexplored_key] = "uvloop"
        return value
    if name not in ("asyncio", "trio"):
        return value
    if _wants_virtual_time(item):
        taken = "loop_factory" if name == "asyncio" else "clock"
        if taken in options:
            raise pytest.UsageError(
                f"{item.nodeid}: virtual time cannot replace the {taken!r} your "
                f"anyio_backend already sets ({options[taken]!r})"
            )
        clock = VirtualClock(autojump=_autojump(item))
        options.update(clock.backend_options(name))
        item.stash[_clock_key] = clock
    if _wants_exploration(item):
        fuzzer = _item_fuzzer(item)
        if name == "trio":
            from ._explore_trio import TrioGlue

            options["instruments"] = [*options.get("instruments", ()), TrioGlue(fuzzer)]
        else:
            from ._explore_asyncio import ExploringLoops

            options["loop_factory"] = ExploringLoops(
                fuzzer, options.get("loop_factory")
            )
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
        or not (_wants_virtual_time(item) or _wants_exploration(item))
    ):
        yield
        return
    original: Callable[..., object] = fixturedef.func

    def with_clock(*args: Any, **kwargs: Any) -> object:
        return _backend_value(original(*args, **kwargs), item)

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
    pair = _items(backend)
    if len(pair) == 2 and cast("dict[str, Any]", pair[1]).get("use_uvloop"):
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
    """Explore the test's schedule under ``fuzz_seed``; yields the fuzzer.

    An async test's own event loop is explored; in a sync test, the loops
    ``plait.testing.run`` starts are. On uvloop the test runs unexplored
    (first seed only) and the fuzzer takes no decision.
    """
    node = request.node
    if "anyio_backend" in request.fixturenames:
        backend = request.getfixturevalue("anyio_backend")
        if backend == "trio" or _items(backend)[:1] == ("trio",):
            # Loaded first so that the fuzzer seeds trio's scheduler too.
            from . import _trio  # noqa: F401  # pyright: ignore[reportUnusedImport]
    active = _item_fuzzer(node)
    if node.stash.get(_unexplored_key, None) is not None:
        if fuzz_seed != request.config.stash[_first_seed_key]:
            pytest.skip(_UVLOOP_SKIP)
        yield active
        return
    with exploring(active):
        yield active


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    seed = item.stash.get(_seed_key, None)
    if seed is None or not report.failed:
        return
    text = f"failed with seed {seed}; replay with --plait-seed={seed} --plait-seeds=1"
    active = item.stash.get(_fuzzer_key, None)
    if active is not None and item.stash.get(_unexplored_key, None) is None:
        text += (
            f"\nstrategy {active.strategy!r}: {active.switches} deviations from "
            f"the loop's order in {active.decisions} decisions "
            f"(schedule {str(active.taken())!r})\n{active.format_trace()}"
        )
    report.sections.append(("plait schedule exploration", text))
