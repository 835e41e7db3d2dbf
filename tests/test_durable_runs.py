"""How a JobWorker's runners take the jobs it holds: every held job up to the
queue's concurrency runs at once, jobs that never suspend run one after the
other in one runner, with no task switch per job, and share a cancel scope
until one of them has it cancelled; and how far ahead a queue is claimed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import TaskGroup

import plait
from durable_scripts.support import ENGINES, make_dsn
from plait._jobs.durable._engine import Ack, Claimed
from plait._jobs.durable._ledger import Ledger
from plait._jobs.durable._runs import MAX_AHEAD, Lane, Outcome, Runs


@pytest.fixture(params=ENGINES)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_dsn(request.param, tmp_path)


async def drain(dsn: str, handlers: plait.JobHandlers, concurrency: int) -> None:
    worker = plait.JobWorker(
        dsn, handlers, concurrency=concurrency, until_empty=True, poll_interval=0.02
    )
    with anyio.fail_after(30):
        await worker.run()
    assert worker.stats.done == worker.stats.claimed


async def test_held_jobs_run_at_once_up_to_the_concurrency(dsn: str) -> None:
    # Each job waits until all have started: it ends only if the runner that
    # took one job woke another for the next, and so on up to the last.
    handlers = plait.JobHandlers()
    concurrency = 6
    running = 0
    most = 0
    all_started = anyio.Event()

    @handlers.register("gather")
    async def gather(job: plait.Job) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == concurrency:
            all_started.set()
        await all_started.wait()
        running -= 1

    async with plait.DurableBackend(dsn, work=False) as backend:
        await backend.submit_many([plait.Job("gather") for _ in range(concurrency)])
    await drain(dsn, handlers, concurrency)
    assert most == concurrency


async def test_jobs_that_never_suspend_run_in_one_runner(dsn: str) -> None:
    handlers = plait.JobHandlers()
    tasks: list[int] = []

    @handlers.register("noop")
    async def noop(job: plait.Job) -> None:
        tasks.append(anyio.get_current_task().id)

    async with plait.DurableBackend(dsn, work=False) as backend:
        await backend.submit_many([plait.Job("noop") for _ in range(30)])
    # One round trip claims all 30 (the worker holds up to twice its
    # concurrency); the first runner woken runs them all before it yields.
    await drain(dsn, handlers, concurrency=20)
    assert len(tasks) == 30
    assert len(set(tasks)) == 1


async def test_stop_hands_back_the_jobs_claimed_ahead_at_once(dsn: str) -> None:
    handlers = plait.JobHandlers()
    started: list[str] = []
    running = anyio.Event()
    finish = anyio.Event()

    @handlers.register("slow")
    async def slow(job: plait.Job) -> None:
        started.append(str(job.id))
        running.set()
        await finish.wait()

    async with plait.DurableBackend(dsn, work=False) as backend:
        ids = await backend.submit_many([plait.Job("slow") for _ in range(3)])
        worker = plait.JobWorker(
            dsn, handlers, concurrency=1, grace=30, poll_interval=0.02
        )

        async def states() -> list[str]:
            records = [await backend.get(job_id) for job_id in ids]
            return [record.state if record else "?" for record in records]

        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            with anyio.fail_after(10):
                await running.wait()
                worker.stop()
                # The jobs claimed ahead go back while the first still runs.
                while await states() != ["running", "queued", "queued"]:
                    await anyio.sleep(0.01)
            finish.set()
        assert started == [ids[0]]
        assert await states() == ["done", "queued", "queued"]


# Runs alone, fed claimed rows by hand: a lane of one runner runs every job
# below one after the other, sharing one cancel scope until a run has it
# cancelled.


def claimed_row(job_id: int, type: str) -> Claimed:
    return Claimed(job_id, type, "{}", 0, 0.0, None, 1, 1, "default")


class Lane1:
    """One queue with one runner; the outcomes, in the order they came."""

    def __init__(self, handlers: plait.JobHandlers) -> None:
        self.outcomes: dict[int, Outcome] = {}
        self.all_in = anyio.Event()
        self.expected = 0
        self.watcher: TaskGroup | None = None
        self.runs = Runs(handlers, "w", {"default": 1}, self._outcome)

    def _outcome(self, claimed: Claimed, outcome: Outcome) -> None:
        self.outcomes[claimed.id] = outcome
        if len(self.outcomes) == self.expected:
            self.all_in.set()

    def kinds(self) -> dict[int, str]:
        return {
            job_id: o.kind if isinstance(o, Ack) else o.value
            for job_id, o in self.outcomes.items()
        }

    async def run(self, *rows: Claimed, then: Callable[[], Awaitable[None]]) -> None:
        self.expected = max(self.expected, len(rows))
        async with anyio.create_task_group() as tg:
            self.watcher = tg
            with self.runs.running(tg):
                for row in rows:
                    self.runs.dispatch(row)
                await then()
                with anyio.fail_after(10):
                    await self.all_in.wait()


async def test_a_finished_runs_deadline_never_reaches_the_next_run() -> None:
    handlers = plait.JobHandlers()

    @handlers.register("timed", timeout=0.05)
    async def timed(job: plait.Job) -> None:
        pass  # returns at once: its deadline is still ahead

    @handlers.register("untimed")
    async def untimed(job: plait.Job) -> None:
        await anyio.sleep(0.3)  # past the timed run's deadline

    lane = Lane1(handlers)
    await lane.run(claimed_row(1, "timed"), claimed_row(2, "untimed"), then=noop)
    assert lane.kinds() == {1: "done", 2: "done"}


async def test_a_later_timeout_replaces_an_earlier_one() -> None:
    handlers = plait.JobHandlers()

    @handlers.register("short", timeout=0.05)
    async def short(job: plait.Job) -> None:
        pass

    @handlers.register("long", timeout=30)
    async def long(job: plait.Job) -> None:
        await anyio.sleep(0.3)

    @handlers.register("overruns", timeout=0.05)
    async def overruns(job: plait.Job) -> None:
        await anyio.sleep_forever()

    lane = Lane1(handlers)
    rows = claimed_row(1, "short"), claimed_row(2, "long"), claimed_row(3, "overruns")
    await lane.run(*rows, then=noop)
    assert lane.kinds() == {1: "done", 2: "done", 3: "dead"}


@pytest.mark.parametrize("swallowed", [False, True], ids=["raised", "swallowed"])
async def test_a_cancelled_run_ends_its_scope_and_the_next_run_gets_a_new_one(
    swallowed: bool,
) -> None:
    handlers = plait.JobHandlers()
    started = anyio.Event()

    @handlers.register("waits")
    async def waits(job: plait.Job) -> str:
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            if not swallowed:
                raise
        return "kept going"

    @handlers.register("quick")
    async def quick(job: plait.Job) -> None:
        await anyio.sleep(0)  # a checkpoint: it would raise in a cancelled scope

    lane = Lane1(handlers)

    async def cancel_the_first() -> None:
        await started.wait()
        assert lane.runs.cancel(1, "cancel")

    rows = claimed_row(1, "waits"), claimed_row(2, "quick"), claimed_row(3, "quick")
    await lane.run(*rows, then=cancel_the_first)
    # A handler that swallows its cancellation finished: it succeeded.
    first = "done" if swallowed else "cancelled"
    assert lane.kinds() == {1: first, 2: "done", 3: "done"}


async def test_a_lane_claims_further_ahead_only_while_its_runners_starve() -> None:
    lane = Lane("default", limit=10)
    assert (lane.ahead, lane.free) == (10, 20)
    lane.idle.append(anyio.Event())  # a runner waits, and no job does
    lane.took_claim(asked=20, got=20)
    assert lane.ahead == 20
    lane.took_claim(asked=30, got=29)  # the queue ran short: back to 10
    assert lane.ahead == 10
    for _ in range(10):
        lane.took_claim(asked=30, got=30)
    assert lane.ahead == 10 * MAX_AHEAD
    lane.idle.clear()
    lane.jobs.extend(claimed_row(i, "t") for i in range(9))
    lane.took_claim(asked=30, got=30)  # busy, under a concurrency's worth waits
    assert lane.ahead == 10 * MAX_AHEAD
    lane.jobs.append(claimed_row(9, "t"))
    lane.took_claim(asked=30, got=30)  # a concurrency's worth waits: halved
    assert lane.ahead == 10 * MAX_AHEAD // 2
    for _ in range(20):
        lane.took_claim(asked=30, got=30)
    assert lane.ahead == 10


def test_the_ledger_tells_each_lane_what_its_claim_brought() -> None:
    told: list[tuple[str, int, int]] = []

    class Told(Lane):
        def took_claim(self, asked: int, got: int) -> None:
            told.append((self.name, asked, got))

    runs = Runs(plait.JobHandlers(), "w", {"a": 1, "b": 1}, lambda c, o: None)
    runs.lanes = {"a": Told("a", 1), "b": Told("b", 1)}
    ledger = Ledger("w", runs, lambda job_id: None)
    rows = [claimed_row(1, "t")._replace(queue="b")]
    ledger.took_claims({"a": 2, "b": 2}, rows)
    assert told == [("a", 2, 0), ("b", 2, 1)]


async def test_stop_hands_back_the_jobs_not_started_and_starts_none() -> None:
    handlers = plait.JobHandlers()
    started: list[int] = []
    first_running = anyio.Event()
    finish = anyio.Event()

    @handlers.register("t")
    async def slow(job: plait.Job) -> None:
        started.append(int(str(job.id)))
        first_running.set()
        await finish.wait()

    lane = Lane1(handlers)

    async def stop_while_the_first_runs() -> None:
        await first_running.wait()
        lane.runs.stop()
        lane.runs.dispatch(claimed_row(4, "t"))  # claimed by a round trip in flight
        finish.set()

    rows = [claimed_row(i, "t") for i in (1, 2, 3)]
    lane.expected = 4
    await lane.run(*rows, then=stop_while_the_first_runs)
    assert started == [1]
    assert lane.kinds() == {1: "done", 2: "release", 3: "release", 4: "release"}


async def test_jobs_that_never_suspend_let_the_loop_run_every_slice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("plait._jobs.durable._runs.SLICE", 0.0)
    handlers = plait.JobHandlers()
    between: list[int] = []

    @handlers.register("t")
    async def busy(job: plait.Job) -> None:
        pass  # never suspends

    lane = Lane1(handlers)

    async def watch() -> None:
        # Runs only when the runner lets the loop run: after every job here
        # (trio may run it a job later, never less often).
        while len(lane.outcomes) < 5:
            between.append(len(lane.outcomes))
            await anyio.lowlevel.checkpoint()

    async def watched() -> None:
        assert lane.watcher is not None
        lane.watcher.start_soon(watch)

    rows = [claimed_row(i, "t") for i in range(1, 6)]
    await lane.run(*rows, then=watched)
    assert lane.kinds() == dict.fromkeys(range(1, 6), "done")
    assert len(between) >= 4


async def test_stop_during_a_slices_checkpoint_starts_no_further_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The runner lets the loop run between slices; a stop() then must find
    # the next job still in the lane, not in the runner's hands.
    monkeypatch.setattr("plait._jobs.durable._runs.SLICE", 0.0)
    handlers = plait.JobHandlers()
    started: list[int] = []
    at_stop: list[int] = []

    @handlers.register("t")
    async def busy(job: plait.Job) -> None:
        started.append(int(str(job.id)))  # never suspends

    lane = Lane1(handlers)

    async def stop_once_one_started() -> None:
        while not started:
            await anyio.lowlevel.checkpoint()
        at_stop.append(len(started))
        lane.runs.stop()

    async def watched() -> None:
        assert lane.watcher is not None
        lane.watcher.start_soon(stop_once_one_started)

    await lane.run(*[claimed_row(i, "t") for i in range(1, 6)], then=watched)
    assert len(started) == at_stop[0]
    kinds = lane.kinds()
    assert sorted(kinds) == [1, 2, 3, 4, 5]
    assert [kinds[i] for i in started] == ["done"] * len(started)
    assert {kinds[i] for i in kinds if i not in started} == {"release"}


async def noop() -> None:
    pass
