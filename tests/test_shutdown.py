"""Graceful, priority-ordered shutdown of a supervisor's services."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import plait
from plait._supervision._service_run import Child
from plait._supervision._service_spec import ServiceSpec
from plait._supervision._shutdown import stop_tiers
from plait.testing import RealClock, VirtualClock

Clock = VirtualClock | RealClock


def polite(log: list[str], name: str) -> Callable[..., Any]:
    """A service that logs when it is asked to stop and when it has ended."""

    async def service(stopping: anyio.Event) -> None:
        try:
            await stopping.wait()
            log.append(f"asked {name}")
            await anyio.lowlevel.checkpoint()
        finally:
            log.append(f"ended {name}")

    return service


async def test_tiers_stop_in_priority_order_dependants_first() -> None:
    log: list[str] = []
    async with plait.Supervisor(observers=()) as sup:
        await sup.start(polite(log, "db"), name="db", priority=10)
        await sup.start(polite(log, "cache"), name="cache", priority=5)
        await sup.start(polite(log, "web"), name="web", depends_on=["db", "cache"])
        await sup.start(polite(log, "metrics"), name="metrics")
        await sup.start(polite(log, "api"), name="api", priority=10, depends_on="db")
        report = await sup.shutdown()
    assert report.tiers == (("web", "metrics"), ("cache",), ("api",), ("db",))
    assert report.stopped == ("web", "metrics", "cache", "api", "db")
    assert report.clean
    position = {entry: index for index, entry in enumerate(log)}
    for earlier, later in zip(report.tiers, report.tiers[1:], strict=False):
        for done in earlier:
            for asked in later:
                assert position[f"ended {done}"] < position[f"asked {asked}"]


async def test_same_priority_dependants_stop_before_what_they_depend_on() -> None:
    log: list[str] = []
    async with plait.Supervisor(observers=()) as sup:
        await sup.start(polite(log, "db"), name="db")
        await sup.start(polite(log, "repo"), name="repo", depends_on="db")
        await sup.start(polite(log, "web"), name="web", depends_on="repo")
    assert sup.report is not None
    assert sup.report.tiers == (("web",), ("repo",), ("db",))
    assert log == [
        "asked web",
        "ended web",
        "asked repo",
        "ended repo",
        "asked db",
        "ended db",
    ]


async def test_a_service_ignoring_the_request_is_cancelled_at_its_grace(
    clock: Clock,
) -> None:
    grace = 30.0 if clock.virtual else 0.2
    ended: dict[str, float] = {}

    async def stubborn() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            ended["stubborn"] = anyio.current_time()

    async def quick(stopping: anyio.Event) -> None:
        await stopping.wait()
        ended["quick"] = anyio.current_time()

    async with plait.Supervisor(observers=(), grace=grace * 10) as sup:
        await sup.start(stubborn, grace=grace)
        await sup.start(quick)
        start = anyio.current_time()
        report = await sup.shutdown()
    assert report.cancelled == ("stubborn",)
    assert report.stopped == ("quick",)
    assert not report.clean
    assert ended["stubborn"] - start == clock.approx(grace)
    assert ended["quick"] - start == clock.approx(0)
    assert sup.stats()["stubborn"].state is plait.ServiceState.STOPPED


async def test_shutdown_grace_applies_to_services_without_their_own(
    clock: Clock,
) -> None:
    grace = 12.0 if clock.virtual else 0.1

    async with plait.Supervisor(observers=()) as sup:
        await sup.start(anyio.sleep_forever, name="a")
        await sup.start(anyio.sleep_forever, name="b", priority=1)
        start = anyio.current_time()
        report = await sup.shutdown(grace=grace)
        took = anyio.current_time() - start
    assert report.cancelled == ("a", "b")
    assert took == clock.approx(2 * grace)


async def test_a_failure_while_stopping_is_reported_and_not_restarted() -> None:
    async def messy(stopping: anyio.Event) -> None:
        await stopping.wait()
        raise OSError("flush failed")

    async with plait.Supervisor(observers=()) as sup:
        await sup.start(messy)
        report = await sup.shutdown()
    assert [(name, str(exc)) for name, exc in report.failed] == [
        ("messy", "flush failed")
    ]
    assert sup.stats()["messy"].runs == 1
    assert sup.stats()["messy"].state is plait.ServiceState.FAILED


async def test_shutdown_twice_returns_the_same_report() -> None:
    log: list[str] = []
    async with plait.Supervisor(observers=()) as sup:
        await sup.start(polite(log, "x"), name="x")
        first = await sup.shutdown()
        second = await sup.shutdown()
    assert first is second
    assert sup.report is first
    assert log == ["asked x", "ended x"]


async def test_outer_cancellation_still_shuts_down_shielded_within_grace(
    clock: Clock,
) -> None:
    grace = 20.0 if clock.virtual else 0.2
    log: list[str] = []
    stubborn_ended = anyio.Event()

    async def stubborn() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            stubborn_ended.set()

    started = anyio.current_time()
    with anyio.move_on_after(grace) as outer:
        async with plait.Supervisor(observers=(), grace=grace) as sup:
            await sup.start(polite(log, "web"), name="web")
            await sup.start(stubborn, priority=1)
            await anyio.sleep_forever()
    finished = anyio.current_time()
    assert outer.cancelled_caught
    assert sup.report is not None
    assert sup.report.stopped == ("web",)
    assert sup.report.cancelled == ("stubborn",)
    assert log == ["asked web", "ended web"]
    assert stubborn_ended.is_set()
    assert finished - started == clock.approx(2 * grace)


async def test_nothing_runs_after_the_block() -> None:
    running: set[str] = set()

    def service(name: str) -> Callable[..., Any]:
        async def run(stopping: anyio.Event) -> None:
            running.add(name)
            try:
                if name == "ignores":
                    await anyio.sleep_forever()
                await stopping.wait()
            finally:
                running.discard(name)

        return run

    async with plait.Supervisor(observers=(), grace=0) as sup:
        for index, name in enumerate(["a", "b", "ignores", "c"]):
            await sup.start(service(name), name=name, priority=index % 2)
        assert running == {"a", "b", "ignores", "c"}
    assert running == set()
    assert all(s.state is plait.ServiceState.STOPPED for s in sup.stats().values())


async def test_grace_zero_cancels_at_once() -> None:
    async with plait.Supervisor(observers=()) as sup:
        await sup.start(anyio.sleep_forever, name="x")
        report = await sup.shutdown(grace=0)
    assert report.cancelled == ("x",)


def test_report_clean_property() -> None:
    assert plait.ShutdownReport().clean
    assert not plait.ShutdownReport(cancelled=("x",)).clean
    assert not plait.ShutdownReport(failed=(("x", ValueError()),)).clean


@pytest.mark.parametrize("grace", [-1, float("nan"), "5"])
async def test_bad_grace_is_refused(grace: Any) -> None:
    async with plait.Supervisor(observers=()) as sup:
        with pytest.raises((TypeError, ValueError), match="grace must be"):
            await sup.shutdown(grace=grace)


async def test_a_service_can_shut_its_supervisor_down() -> None:
    log: list[str] = []
    reports: list[plait.ShutdownReport] = []

    async def admin(sup: plait.Supervisor, stopping: anyio.Event) -> None:
        try:
            reports.append(await sup.shutdown())
        finally:
            log.append("admin ended")

    async with plait.Supervisor(observers=(), grace=0) as sup:
        await sup.start(polite(log, "db"), name="db", priority=1, grace=5)
        await sup.start(admin, sup)
        await sup.shutdown()
    assert sup.report is not None
    assert sup.report.tiers == (("admin",), ("db",))
    assert sup.report.cancelled == ("admin",)
    assert sup.report.stopped == ("db",)
    assert log == ["admin ended", "asked db", "ended db"]
    assert reports == []


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_stop_tiers_respect_priorities_and_dependencies(data: st.DataObject) -> None:
    count = data.draw(st.integers(min_value=0, max_value=12))
    services: list[Child] = []
    for index in range(count):
        priority = data.draw(st.integers(min_value=0, max_value=3))
        allowed = [s.name for s in services if s.spec.priority >= priority]
        deps = (
            data.draw(st.lists(st.sampled_from(allowed), unique=True))
            if allowed
            else []
        )
        spec = ServiceSpec(
            name=f"s{index}",
            fn=anyio.sleep_forever,
            priority=priority,
            depends_on=tuple(deps),
        )
        services.append(Child(spec, added_at=0.0))
    tiers = stop_tiers(services)
    tier_of = {s.name: i for i, tier in enumerate(tiers) for s in tier}
    assert sorted(tier_of) == sorted(s.name for s in services)
    assert sum(len(tier) for tier in tiers) == len(services)
    for tier in tiers:
        assert len({s.spec.priority for s in tier}) == 1
    priorities = [tier[0].spec.priority for tier in tiers]
    assert priorities == sorted(priorities)
    for service in services:
        for dep in service.spec.depends_on:
            assert tier_of[dep] > tier_of[service.name]


async def test_a_failure_queued_behind_a_shutdown_is_not_restarted() -> None:
    # The shutdown is asked for after the failure but before the supervisor's
    # own task looks at it: the shutdown handles it, and its caller gets the
    # report. (On trio the supervisor may look first and give up: also fine.)
    go, failed, shut = anyio.Event(), anyio.Event(), anyio.Event()
    reports: list[plait.ShutdownReport] = []

    class OnFailure(plait.SupervisorObserver):
        def on_failure(self, event: plait.ServiceEvent) -> None:
            failed.set()

    async def fails() -> None:
        await go.wait()
        raise ValueError("down")

    async def ask_for_shutdown(sup: plait.Supervisor) -> None:
        await failed.wait()
        # Outside the supervisor's scope and shielded: only the shutdown's
        # end can end this wait.
        with anyio.CancelScope(shield=True), anyio.fail_after(5):
            reports.append(await sup.shutdown())
        shut.set()

    with contextlib.suppress(ExceptionGroup):
        async with (
            anyio.create_task_group() as tg,
            plait.Supervisor(observers=[OnFailure()], max_restarts=0, backoff=0) as sup,
        ):
            await sup.start(polite([], "other"), name="other")
            await sup.start(fails, ready="begin")
            tg.start_soon(ask_for_shutdown, sup)
            go.set()
            await shut.wait()
    assert reports == [sup.report]
    assert sup.report is not None
    assert sup.report.stopped == ("other",)
    assert sup.stats()["fails"].runs == 1


async def test_no_restart_starts_once_a_shutdown_is_asked_for(clock: Clock) -> None:
    # The shutdown is asked for at the very instant a backoff ends. Which of
    # the two goes first is up to the scheduler (trio shuffles), so try it
    # often: a restart may come before the request, never after it.
    backoff = 1.0 if clock.virtual else 0.05

    async def fails_once(stopping: anyio.Event) -> None:
        if sup.stats()["svc"].runs == 1:
            raise ValueError("down")
        await stopping.wait()

    for _ in range(20):
        async with plait.Supervisor(observers=(), backoff=backoff, jitter=0) as sup:
            await sup.start(fails_once, name="svc", ready="begin")
            await anyio.sleep(backoff)
            runs_when_asked = sup.stats()["svc"].runs
            await sup.shutdown()
            assert sup.stats()["svc"].runs == runs_when_asked


# -- forced stops are reported as forced (issue 11, defect 7) ---------------------


async def test_a_service_that_swallows_its_cancellation_is_reported_cancelled(
    clock: Clock,
) -> None:
    grace = 3.0 if clock.virtual else 0.05
    exits: list[str | None] = []

    class Exits(plait.SupervisorObserver):
        def on_exit(self, event: plait.ServiceEvent) -> None:
            exits.append(event.outcome)

    async def swallower() -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            return  # catches the end-of-grace cancellation and returns

    async with plait.Supervisor(observers=[Exits()], grace=grace) as sup:
        await sup.start(swallower)
        report = await sup.shutdown()
    assert report.cancelled == ("swallower",)
    assert report.stopped == ()
    assert not report.clean
    assert exits == ["cancelled"]
    assert sup.stats()["swallower"].state is plait.ServiceState.STOPPED
    if clock.virtual:  # it ended at its cancellation: it held nothing up
        assert report.overran == ()


async def test_a_shielded_service_is_reported_cancelled_and_overran(
    clock: Clock,
) -> None:
    grace, hold = (0.2, 4.0) if clock.virtual else (0.05, 0.3)

    async def shielded(stopping: anyio.Event) -> None:
        await stopping.wait()
        with anyio.CancelScope(shield=True):
            await anyio.sleep(hold)  # the cancellation at the grace cannot cut it

    async with plait.Supervisor(observers=(), grace=grace) as sup:
        await sup.start(shielded)
        start = anyio.current_time()
        report = await sup.shutdown()
        took = anyio.current_time() - start
    assert report.cancelled == ("shielded",)
    assert report.stopped == ()
    assert not report.clean
    assert took == clock.approx(hold)
    [(name, overrun)] = report.overran
    assert name == "shielded"
    if clock.virtual:
        assert overrun == clock.approx(hold - grace)
    else:  # a loaded machine may fire the grace's cancellation late
        assert 0 < overrun <= took


async def test_a_service_ending_on_request_within_grace_is_not_forced(
    clock: Clock,
) -> None:
    async def polite_slow(stopping: anyio.Event) -> None:
        await stopping.wait()
        await anyio.sleep(0.01)

    async with plait.Supervisor(observers=(), grace=10) as sup:
        await sup.start(polite_slow)
        report = await sup.shutdown()
    assert report.stopped == ("polite_slow",)
    assert report.cancelled == ()
    assert report.overran == ()
    assert report.clean


async def test_a_shutdown_during_a_group_restart_keeps_the_grace_already_running(
    clock: Clock,
) -> None:
    # Found by the supervisor property: a group restart asks "slow" to stop
    # at 1; the shutdown at 2 must not grant it a fresh grace (to 5): its
    # grace runs out at 4, and it holds its shield to 4.5.
    unit = 1.0 if clock.virtual else 0.1

    async def slow(stopping: anyio.Event) -> None:
        await stopping.wait()
        with anyio.CancelScope(shield=True):
            await anyio.sleep(3.5 * unit)

    async def brief() -> None:
        await anyio.sleep(unit)  # ends at 1: its group restarts

    async with plait.Supervisor(
        observers=(), strategy="one_for_all", backoff=0, grace=3 * unit
    ) as sup:
        await sup.start(slow)
        await sup.start(brief)
        await anyio.sleep(2 * unit)
        report = await sup.shutdown()
    assert report.stopped == ()
    assert report.cancelled == ("slow",)
    if clock.virtual:  # on real time both may fall due in one loop iteration
        assert report.overran == (("slow", 0.5),)
