"""plait.task_tree(): the tasks of the running loop, labelled with what plait knows.

Every test runs on asyncio, uvloop and trio. Each pattern, service, job and
periodic job is caught mid-flight (every task parked on an Event, found with
``wait_all_tasks_blocked``) and its labels checked, so a rename in the code
a labeller reads fails here.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from anyio import wait_all_tasks_blocked

import plait
from plait._observe import _labels

T = TypeVar("T")


class Gate:
    """Parks calls until opened; counts the calls that arrived."""

    def __init__(self) -> None:
        self.open = anyio.Event()
        self.arrived = 0

    async def wait(self, value: T) -> T:
        self.arrived += 1
        await self.open.wait()
        return value


async def snapshot_while(
    start: Callable[[], Coroutine[Any, Any, Any]], ready: Callable[[], bool]
) -> plait.TaskTree:
    """Run *start* in a task; once *ready* and all tasks wait, take the tree."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(start, name="subject")
        while True:
            await wait_all_tasks_blocked()
            if ready():
                break
        tree = plait.task_tree()
        tg.cancel_scope.cancel()
    return tree


def function_of(node: plait.TaskNode) -> str:
    """The function of the line where *node* is suspended."""
    assert node.where is not None
    return node.where.function


def plait_nodes(tree: plait.TaskTree) -> list[plait.TaskNode]:
    return [
        node for node in tree.walk() if node.labels or node.name.startswith("plait.")
    ]


async def test_bounded_map_under_a_supervisor_names_pattern_item_and_service() -> None:
    gate = Gate()
    items = ["alpha", "beta", "gamma", "delta"]

    async def crawl() -> None:
        await plait.bounded_map(gate.wait, items, limit=3)

    async def run() -> None:
        async with plait.Supervisor(observers=(), name="web", grace=0) as sup:
            await sup.start(crawl, name="crawler")
            await anyio.sleep_forever()

    tree = await snapshot_while(run, lambda: gate.arrived == 3)
    (service,) = tree.find(service="crawler")
    assert service.matches(supervisor="web", state="running", restarts=0)
    workers = [node for node in service.walk() if node.label("index") is not None]
    indexed = {node.label("index"): node for node in workers}
    assert sorted(indexed) == [0, 1, 2]
    for index, node in indexed.items():
        assert node.matches(pattern="bounded_map", index=index, item=repr(items[index]))
        assert function_of(node) == "Gate.wait"
    (owner,) = service.find(pattern="bounded_map", role="waiting for its workers")
    assert owner is service  # the service's own task runs the map
    assert owner.label("limit") == 3
    text = str(tree)
    assert "service 'crawler': running, 0 restarts" in text
    assert "bounded_map item 1 ('beta')" in text
    assert "supervisor 'web': watching its services" in text


async def test_the_task_taking_the_snapshot_is_marked_and_labelled() -> None:
    seen: list[plait.TaskTree] = []
    gate = Gate()

    async def fn(x: int) -> int:
        if x == 1:
            while gate.arrived < 1:
                await anyio.sleep(0)
            seen.append(plait.task_tree())
            gate.open.set()
            return x
        return await gate.wait(x)

    assert await plait.bounded_map(fn, [0, 1], limit=2) == [0, 1]
    (tree,) = seen
    (me,) = [node for node in tree.walk() if node.current]
    assert me.matches(pattern="bounded_map", index=1)
    assert function_of(me).endswith("fn")
    assert (
        me.stack[-1].function
        == "test_the_task_taking_the_snapshot_is_marked_and_labelled.<locals>.fn"
    )


async def test_a_finished_program_leaves_no_plait_task() -> None:
    async def work(x: int) -> int:
        await anyio.sleep(0)
        return x

    async def service(stopping: anyio.Event) -> None:
        await stopping.wait()

    await plait.bounded_map(work, range(5), limit=2)
    await plait.gather(work(1), work(2))
    await plait.race(work(1), work(2))
    async with plait.imap(work, range(5), limit=2) as results:
        assert [r async for r in results] == list(range(5))
    async with plait.as_completed(work(1), work(2)) as done:
        async for _ in done:
            pass
    await plait.retry(work, 1)
    async with plait.Supervisor(observers=()) as sup:
        await sup.start(service)
    handlers = plait.JobHandlers()
    handlers.add("noop", lambda job: work(0), retry=plait.RetryPolicy(attempts=1))
    async with plait.TrackedBackend(handlers) as backend:
        await backend.submit(plait.Job("noop"))
    tree = plait.task_tree()
    assert plait_nodes(tree) == [], str(tree)


@pytest.mark.parametrize("pattern", ["gather", "race", "as_completed", "imap"])
async def test_each_pattern_labels_its_tasks(pattern: str) -> None:
    gate = Gate()
    calls = {
        "gather": lambda: plait.gather(gate.wait("a"), gate.wait("b")),
        "race": lambda: plait.race(gate.wait("a"), gate.wait("b")),
        "as_completed": lambda: _drain(
            plait.as_completed(gate.wait("a"), gate.wait("b"))
        ),
        "imap": lambda: _read(plait.imap(gate.wait, ["a", "b"], limit=2)),
    }
    tree = await snapshot_while(calls[pattern], lambda: gate.arrived == 2)
    labelled = [node for node in tree.walk() if node.label("index") is not None]
    assert sorted(node.label("index") for node in labelled) == [0, 1]
    for node in labelled:
        assert node.matches(pattern=pattern)
        assert function_of(node) == "Gate.wait"
    word = "item" if pattern == "imap" else "argument"
    assert f"{pattern} {word} 0" in str(tree)


async def _drain(cm: Any) -> None:
    async with cm as done:
        async for _ in done:
            pass


async def _read(cm: Any) -> None:
    async with cm as results:
        async for _ in results:
            pass


async def test_imap_workers_say_when_they_wait_for_the_reader() -> None:
    async def same(x: int) -> int:
        return x

    async def slow_reader() -> None:
        async with plait.imap(same, range(10), limit=2, buffer=0) as results:
            await anyio.sleep_forever()
            async for _ in results:
                pass

    tree = await snapshot_while(slow_reader, lambda: True)
    states = {node.label("state") for node in tree.find(pattern="imap")}
    assert "waiting for the reader to take a result" in states
    assert "*[plait.imap worker [imap: waiting for the reader" in str(tree)


async def test_retry_shows_the_attempt_and_the_backoff() -> None:
    failed = anyio.Event()

    async def flaky() -> None:
        failed.set()
        raise ConnectionError("down")

    async def run() -> None:
        await plait.retry(flaky, attempts=3, base_delay=30, max_delay=30, jitter=0)

    tree = await snapshot_while(run, failed.is_set)
    (node,) = tree.find(pattern="retry")
    assert node.matches(pattern="retry", attempt=1)
    assert node.label("item").endswith("flaky")
    assert node.label("state") == (
        "backing off 30s after ConnectionError, before attempt 2"
    )


async def test_bounded_map_with_retry_shows_the_attempt() -> None:
    attempts: list[int] = []
    gate = Gate()

    async def flaky(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise ConnectionError("once")
        return await gate.wait(x)

    policy = plait.RetryPolicy(attempts=3, base_delay=0, jitter=0)

    async def run() -> None:
        await plait.bounded_map(flaky, [7], limit=1, retry=policy)

    tree = await snapshot_while(run, lambda: gate.arrived == 1)
    (worker,) = [n for n in tree.find(pattern="bounded_map") if n.label("index") == 0]
    assert worker.matches(index=0, item="7", attempt=2)


async def test_services_restarts_and_periodic_jobs_are_labelled() -> None:
    gate = Gate()
    failures = [ValueError("first run fails")]

    async def flaky_service() -> None:
        if failures:
            raise failures.pop()
        await gate.wait(None)

    async def tick() -> None:
        await gate.wait(None)

    async def run() -> None:
        async with plait.Supervisor(observers=(), backoff=0, grace=0) as sup:
            await sup.start(flaky_service, name="flaky", ready="begin")
            await sup.start(plait.every, 60, tick, name="ticker")
            await anyio.sleep_forever()

    tree = await snapshot_while(run, lambda: gate.arrived == 2)
    (flaky,) = tree.find(service="flaky")
    assert flaky.matches(state="running", restarts=1)
    assert flaky.age is not None
    assert flaky.age >= 0
    (run_node,) = tree.find(periodic="tick", state="run 1")
    assert function_of(run_node) == "Gate.wait"
    assert tree.find(periodic="tick", state="waiting for its next tick")


async def test_tracked_jobs_are_labelled() -> None:
    gate = Gate()
    handlers = plait.JobHandlers()

    @handlers.register("email.send")
    async def send(job: plait.Job) -> None:
        await gate.wait(None)

    ids: list[str] = []

    async def run() -> None:
        async with plait.TrackedBackend(handlers, drain_timeout=0) as backend:
            ids.append(await backend.submit(plait.Job("email.send", {"to": "ada"})))
            await anyio.sleep_forever()

    tree = await snapshot_while(run, lambda: gate.arrived == 1)
    (job,) = tree.find(job_type="email.send")
    assert job.matches(job=ids[0], attempt=1)
    assert f"job {ids[0]}: email.send, attempt 1" in str(tree)


async def test_durable_jobs_are_labelled(tmp_path: Path) -> None:
    gate = Gate()
    handlers = plait.JobHandlers()

    @handlers.register("report.build")
    async def build(job: plait.Job) -> None:
        await gate.wait(None)

    dsn = str(tmp_path / "jobs.db")
    worker = plait.JobWorker(dsn, handlers, concurrency=2, grace=0)
    ids: list[str] = []

    async def run() -> None:
        async with plait.DurableBackend(dsn, work=False) as backend:
            ids.append(await backend.submit(plait.Job("report.build")))
            await worker.run()

    tree = await snapshot_while(run, lambda: gate.arrived == 1)
    (job,) = tree.find(job_type="report.build")
    assert job.matches(attempt=1)
    assert str(job.label("job")) == ids[0]
    assert function_of(job) == "Gate.wait"
    assert tree.find(role="job runner waiting for a job")


async def test_gather_labels_its_bare_children_from_the_parent() -> None:
    gate = Gate()

    async def run() -> None:
        await plait.gather(gate.wait(1), gate.wait(2), gate.wait(3))

    tree = await snapshot_while(run, lambda: gate.arrived == 3)
    (owner,) = tree.find(pattern="gather", role="waiting for 3 awaitables")
    assert sorted(child.label("index") for child in owner.children) == [0, 1, 2]


async def test_to_data_is_json_and_round_trips() -> None:
    gate = Gate()

    async def run() -> None:
        await plait.bounded_map(gate.wait, ["x", "y"], limit=2)

    tree = await snapshot_while(run, lambda: gate.arrived == 2)
    data = json.loads(json.dumps(tree.to_data()))
    again = plait.TaskTree.from_data(data)
    assert again == tree
    assert str(again) == str(tree)
    assert again.render(stacks=True) == tree.render(stacks=True)
    assert data["backend"] == plait.current_backend()


async def test_stacks_show_every_frame_of_the_await_chain() -> None:
    gate = Gate()

    async def run() -> None:
        await plait.bounded_map(gate.wait, ["x"], limit=1)

    tree = await snapshot_while(run, lambda: gate.arrived == 1)
    (worker,) = [n for n in tree.find(pattern="bounded_map") if n.label("index") == 0]
    functions = [frame.function for frame in worker.stack]
    assert "Gate.wait" in functions
    assert functions.index("Gate.wait") < len(functions) - 1  # and below it, anyio's
    text = tree.render(stacks=True)
    assert str(worker.stack[-1]) in text


def test_identical_idle_siblings_fold_into_one_line() -> None:
    idle = plait.TaskNode(1, "worker", labels=({"pattern": "imap", "state": "idle"},))
    busy = plait.TaskNode(4, "worker", labels=({"pattern": "imap", "index": 0},))
    root = plait.TaskNode(
        0,
        "main",
        children=(
            idle,
            busy,
            plait.TaskNode(2, "worker", labels=idle.labels),
            plait.TaskNode(3, "worker", labels=idle.labels),
        ),
    )
    tree = plait.TaskTree((root,), "asyncio", 0.0, 1)
    lines = str(tree).splitlines()
    assert lines == [
        "5 tasks on asyncio (pid 1)",
        "└── main",
        "    ├── 3*[worker [imap: idle]]",
        "    └── worker [imap item 0]",
    ]


async def test_a_labeller_that_fails_gives_a_label_error_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = Gate()

    async def run() -> None:
        await plait.bounded_map(gate.wait, ["x"], limit=1)

    _labels.install_labellers()
    code = _labels.code_of(plait.bounded_map.__globals__["_BoundedMap"]._work)

    def broken(frame: object, awaiting: object) -> _labels.Labels:
        raise KeyError("renamed")

    monkeypatch.setitem(_labels._labellers, code, broken)
    tree = await snapshot_while(run, lambda: gate.arrived == 1)
    assert tree.find(label_error="KeyError('renamed')")


def test_task_tree_needs_a_running_event_loop() -> None:
    with pytest.raises(RuntimeError, match=r"task_tree\(\) needs a running event loop"):
        plait.task_tree()


@pytest.mark.parametrize("module_name", sorted(_labels._INSTALLERS))
def test_every_labeller_finds_the_code_it_reads(module_name: str) -> None:
    # install_labellers() swallows a rename (no labels, never a crash); here
    # the installer runs bare, so a renamed function or class fails by name.
    module = importlib.import_module(module_name)
    _labels._INSTALLERS[module_name](module)
