"""``plait.task_tree()``: every task of the running event loop, as a labelled tree."""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any, cast

from anyio import TaskInfo, current_time, get_current_task, get_running_tasks

from .._core._awaitables import short_repr
from .._core._event_loop import current_backend
from ._frames import (
    TaskFrame,
    chain_objects,
    loop_machinery,
    running_chain,
    suspended_chain,
    where,
)
from ._labels import (
    CHILD_LABELS,
    SUBJECT_KEYS,
    Labels,
    install_labellers,
    labeller_for,
)
from ._render import render


@dataclasses.dataclass(frozen=True, slots=True)
class TaskNode:
    """One task in a ``TaskTree``, with what plait knows about it.

    Attributes:
        id: the task's id (``anyio.TaskInfo.id``), unique while it runs.
        name: the task's name.
        labels: what plait's frames in this task say, outermost first, one
            mapping per labelled frame: the pattern owning the task and the
            item, attempt and state of its call (``pattern``, ``index``,
            ``item``, ``attempt``, ``state``); a supervised service
            (``supervisor``, ``service``, ``state``, ``restarts``); a job
            (``job``, ``job_type``, ``attempt``); a periodic job
            (``periodic``).
        age: seconds since the labelled work began, where plait knows it (a
            service's run, a job, a periodic run, a pattern's call), else
            ``None``.
        where: the innermost frame outside the event-loop libraries: the
            line the task is suspended at.
        stack: every frame of the task's await chain, outermost first.
        children: the tasks it started, through task groups it hosts.
        current: whether this is the task that took the snapshot.

    Example:
        >>> import plait
        >>> labels = ({"pattern": "bounded_map", "index": 3},)
        >>> node = plait.TaskNode(1, "plait.bounded_map worker", labels=labels)
        >>> node.label("index"), node.matches(pattern="bounded_map")
        (3, True)
    """

    id: int
    name: str
    labels: tuple[Mapping[str, Any], ...] = ()
    age: float | None = None
    where: TaskFrame | None = None
    stack: tuple[TaskFrame, ...] = ()
    children: tuple[TaskNode, ...] = ()
    current: bool = False

    def label(self, key: str, default: Any = None) -> Any:
        """Return the innermost value of label *key*, or *default*."""
        for labels in reversed(self.labels):
            if key in labels:
                return labels[key]
        return default

    def matches(self, **criteria: Any) -> bool:
        """Tell whether one of this task's label mappings has all *criteria*."""
        return any(
            all(
                key in labels and labels[key] == value
                for key, value in criteria.items()
            )
            for labels in self.labels
        )

    def walk(self) -> Iterator[TaskNode]:
        """Yield this task and every task below it, depth first."""
        stack: list[TaskNode] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def find(self, **criteria: Any) -> list[TaskNode]:
        """Return the tasks at or below this one whose labels match *criteria*."""
        return [node for node in self.walk() if node.matches(**criteria)]

    def to_data(self) -> dict[str, Any]:
        """Return this task and its subtree as plain, JSON-able data."""
        return {
            "id": self.id,
            "name": self.name,
            "labels": [dict(labels) for labels in self.labels],
            "age": self.age,
            "where": None if self.where is None else _frame_data(self.where),
            "stack": [_frame_data(frame) for frame in self.stack],
            "current": self.current,
            "children": [child.to_data() for child in self.children],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> TaskNode:
        """Rebuild a node (and its subtree) from ``to_data``'s output."""
        where_data = data.get("where")
        return cls(
            id=int(data["id"]),
            name=str(data["name"]),
            labels=tuple(dict(labels) for labels in data.get("labels", ())),
            age=data.get("age"),
            where=None if where_data is None else TaskFrame(**where_data),
            stack=tuple(TaskFrame(**frame) for frame in data.get("stack", ())),
            children=tuple(cls.from_data(child) for child in data.get("children", ())),
            current=bool(data.get("current", False)),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class TaskTree:
    """A snapshot of every task of an event loop: parents above children.

    ``str()`` draws it as a tree (the same text ``plait tree PID`` prints);
    ``to_data()`` gives plain JSON-able data for tools, and ``from_data``
    reads it back. The snapshot is taken at once, between two scheduling
    steps, so it is consistent: no task runs while it is read.

    Attributes:
        roots: the tasks without a parent task (the main task; on trio, the
            event loop's system tasks above it).
        backend: ``'asyncio'`` or ``'trio'``.
        time: when it was taken, on the event loop's clock.
        pid: the process it was taken in.

    Example:
        >>> import anyio, plait
        >>> async def main() -> plait.TaskTree:
        ...     async with anyio.create_task_group() as tg:
        ...         tg.start_soon(anyio.sleep, 1, name="nap")
        ...         await anyio.sleep(0)
        ...         tree = plait.task_tree()
        ...         tg.cancel_scope.cancel()
        ...     return tree
        >>> tree = anyio.run(main)
        >>> [node.name for node in tree.walk() if node.name == "nap"]
        ['nap']
        >>> plait.TaskTree.from_data(tree.to_data()) == tree
        True
    """

    roots: tuple[TaskNode, ...]
    backend: str
    time: float
    pid: int

    def __str__(self) -> str:
        return render(self)

    def __len__(self) -> int:
        return sum(1 for _ in self.walk())

    def render(self, *, stacks: bool = False) -> str:
        """Draw the tree; with *stacks*, every task's await chain below it."""
        return render(self, stacks=stacks)

    def walk(self) -> Iterator[TaskNode]:
        """Yield every task, depth first, parents before their children."""
        for root in self.roots:
            yield from root.walk()

    def find(self, **criteria: Any) -> list[TaskNode]:
        """Return the tasks whose labels match *criteria* (``pattern="imap"``).

        A task matches when one of its label mappings has every key given,
        with that value; ``find()`` with no criteria returns every labelled
        task.
        """
        return [
            node for node in self.walk() if node.labels and node.matches(**criteria)
        ]

    def to_data(self) -> dict[str, Any]:
        """Return the snapshot as plain data (dicts, lists, str, numbers)."""
        return {
            "pid": self.pid,
            "backend": self.backend,
            "time": self.time,
            "tasks": [root.to_data() for root in self.roots],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> TaskTree:
        """Rebuild a snapshot from ``to_data``'s output (from another process)."""
        return cls(
            roots=tuple(TaskNode.from_data(task) for task in data["tasks"]),
            backend=str(data["backend"]),
            time=float(data["time"]),
            pid=int(data["pid"]),
        )


def task_tree() -> TaskTree:
    """Return a snapshot of every task of the running event loop, as a tree.

    Each task is shown under the task hosting the task group that started
    it, with its name, the line it is suspended at, and what plait knows
    about it: the pattern that owns it (``gather``, ``race``,
    ``bounded_map``, ``imap``, ``as_completed``, ``retry``) with the item
    index, a short repr of the item and the attempt; a supervised service's
    name, state and restarts; a job's id and type; a periodic job's name.
    Reading the labels costs the program nothing until a snapshot is taken.

    Call it from a task of the event loop. To see the tree of a program from
    outside, or when its event loop is stuck, run a ``TaskMonitor`` in it
    and use ``plait tree PID`` or its signal.

    Raises:
        RuntimeError: no event loop runs in this thread.

    Example:
        >>> import anyio, plait
        >>> async def fetch(url: str) -> str:
        ...     await anyio.sleep(0.05)
        ...     return url
        >>> async def main() -> list[object]:
        ...     async with anyio.create_task_group() as tg:
        ...         async def peek() -> None:
        ...             await anyio.sleep(0.01)
        ...             tree = plait.task_tree()
        ...             workers = tree.find(pattern="bounded_map")
        ...             print([node.label("index") for node in workers])
        ...         tg.start_soon(peek)
        ...         return await plait.bounded_map(fetch, ["a", "b"], limit=2)
        >>> anyio.run(main)
        [None, 0, 1]
        ['a', 'b']
    """
    try:
        backend = current_backend()
        current: int | None = get_current_task().id
    except RuntimeError:
        raise RuntimeError(
            "task_tree() needs a running event loop in this thread; from "
            "another thread or process, run a plait.TaskMonitor in the program"
        ) from None
    return build_tree(get_running_tasks(), current, sys._getframe(1), backend)  # pyright: ignore[reportPrivateUsage]


def snapshot_between_steps() -> TaskTree:
    """Return the task tree from an event-loop callback (no task running).

    ``anyio.from_thread.run_sync`` runs its function as a callback of the
    loop on asyncio (no current task: every task is suspended, so every
    chain can be walked) and in trio's system task on trio.
    """
    try:
        current: int | None = get_current_task().id
    except (RuntimeError, TypeError):  # anyio 4.15 raises TypeError: no task
        current = None
    tasks = get_running_tasks()
    caller = sys._getframe(1)  # pyright: ignore[reportPrivateUsage]
    return build_tree(tasks, current, caller, current_backend(), mark=False)


@dataclasses.dataclass(slots=True)
class _Record:
    info: TaskInfo
    labels: list[dict[str, Any]]
    child_labels: dict[int, dict[str, Any]]
    frames: list[TaskFrame]
    objects: set[int]
    children: list[int]


def build_tree(
    infos: list[TaskInfo],
    current_id: int | None,
    caller: FrameType,
    backend: str,
    *,
    mark: bool = True,
) -> TaskTree:
    """Assemble the tree of *infos*; *caller* is the running task's innermost frame.

    With *mark*, the running task is marked as the one taking the snapshot.
    """
    now = current_time()
    install_labellers()
    records: dict[int, _Record] = {}
    for info in infos:
        if info.id == current_id:
            chain: list[tuple[FrameType, object]] = [
                (frame, None) for frame in running_chain(info.coro, caller)
            ]
        else:
            chain = list(suspended_chain(info.coro))
        record = _Record(
            info,
            labels=[],
            child_labels={},
            frames=[TaskFrame.of(frame) for frame, _ in chain],
            objects={id(obj) for obj in chain_objects(info.coro)},
            children=[],
        )
        for frame, awaiting in chain:
            _apply_labeller(record, frame, awaiting)
        records[info.id] = record
    roots: list[int] = []
    for task_id, record in records.items():
        parent = records.get(record.info.parent_id or -1)
        if parent is None:
            roots.append(task_id)
            continue
        parent.children.append(task_id)
        if parent.child_labels:
            for key in record.objects & parent.child_labels.keys():
                record.labels.insert(0, parent.child_labels[key])
                break
    machinery = loop_machinery()

    def node(task_id: int) -> TaskNode:
        record = records[task_id]
        return TaskNode(
            id=task_id,
            name=record.info.name or "",
            labels=tuple(_public(labels) for labels in record.labels),
            age=_age(record.labels, now),
            where=where(record.frames, machinery),
            stack=tuple(record.frames),
            children=_ordered(node(child) for child in record.children),
            current=mark and task_id == current_id,
        )

    return TaskTree(
        roots=_ordered(node(root) for root in roots),
        backend=backend,
        time=now,
        pid=os.getpid(),
    )


def _apply_labeller(record: _Record, frame: FrameType, awaiting: object) -> None:
    labeller = labeller_for(frame.f_code)
    if labeller is None:
        return
    try:
        labels = labeller(frame, awaiting)
    except Exception as exc:  # a snapshot must never fail because of a label
        labels = {"label_error": short_repr(exc)}
    if not labels:
        return
    children = cast("dict[int, Labels] | None", labels.pop(CHILD_LABELS, None))
    if children:
        record.child_labels.update(children)
    if not labels:
        return
    if record.labels and not SUBJECT_KEYS & labels.keys():
        record.labels[-1].update(labels)  # an attempt or a state of the call above
    else:
        record.labels.append(labels)


def _age(labels: list[dict[str, Any]], now: float) -> float | None:
    for mapping in reversed(labels):
        started_at = mapping.get("started_at")
        if isinstance(started_at, int | float):
            return max(0.0, now - started_at)
    return None


def _public(labels: Mapping[str, Any]) -> dict[str, Any]:
    """Return *labels* as JSON-able data, without the internal ``started_at``."""
    return {key: _plain(value) for key, value in labels.items() if key != "started_at"}


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return str(value)
    return short_repr(value)


def _ordered(nodes: Iterator[TaskNode]) -> tuple[TaskNode, ...]:
    def key(node: TaskNode) -> tuple[str, int, int]:
        index = node.label("index")
        return node.name, index if isinstance(index, int) else -1, node.id

    return tuple(sorted(nodes, key=key))


def _frame_data(frame: TaskFrame) -> dict[str, Any]:
    return {"function": frame.function, "file": frame.file, "line": frame.line}
