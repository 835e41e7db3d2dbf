"""Walking a task's await chain, as pstree walks a process's stack.

A suspended coroutine says what it awaits (``cr_await``; ``gi_yieldfrom``
for a generator-based awaitable, ``ag_await`` for an async generator's
``asend``), so following those links from a task's coroutine gives every
frame it is suspended in, down to the future or trap it waits on. This is
language-level introspection of coroutine objects, the same on asyncio,
uvloop and trio; no event loop's private state is read.

The task that takes the snapshot is running, and a running coroutine hides
what it awaits; its frames are read from the interpreter's call stack
instead (``f_back`` links cross coroutine frames).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

# Frames in these packages are the event loop's machinery, not where a task
# "is": the line shown for a task is the innermost frame outside them.
_LOOP_PACKAGES = (
    "anyio",
    "asyncio",
    "trio",
    "sniffio",
    "uvloop",
    "outcome",
    "contextlib",
    "concurrent",
    "threading",
)


@dataclasses.dataclass(frozen=True, slots=True)
class TaskFrame:
    """One frame of a task's await chain: the function, its file and line.

    ``str()`` gives ``function (package/file.py:line)``.

    Attributes:
        function: the function's qualified name (``Crawler.fetch``).
        file: the source file's path.
        line: the line the frame is suspended (or running) at.

    Example:
        >>> import plait
        >>> str(plait.TaskFrame("fetch", "/srv/app/src/crawler/net.py", 12))
        'fetch (crawler/net.py:12)'
    """

    function: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.function} ({_short_path(self.file)}:{self.line})"

    @classmethod
    def of(cls, frame: FrameType) -> TaskFrame:
        """Describe *frame*."""
        code = frame.f_code
        return cls(code.co_qualname, code.co_filename, frame.f_lineno or 0)


def suspended_chain(coro: object) -> Iterator[tuple[FrameType, object]]:
    """Yield ``(frame, awaiting)`` along *coro*'s await chain, outermost first.

    *awaiting* is the object the frame is suspended on (the next link), or
    ``None`` at the end of the chain. A link without a frame (a future, a
    trap object) ends it. Cycles cannot happen in a live chain, but a bound
    keeps a corrupted one from looping forever.
    """
    obj: Any = coro
    for _ in range(10_000):
        frame = _frame_of(obj)
        if frame is None:
            return
        awaiting = _awaiting(obj)
        yield frame, awaiting
        if awaiting is None:
            return
        obj = awaiting


def running_chain(coro: object, innermost: FrameType | None) -> list[FrameType]:
    """Return the frames of the running task from *coro*'s frame to *innermost*.

    Outermost first. Falls back to the coroutine's own frame when
    *innermost* is not below it (the snapshot is not taken from this task).
    """
    top = _frame_of(coro)
    frames: list[FrameType] = []
    frame = innermost
    while frame is not None:
        frames.append(frame)
        if frame is top:
            frames.reverse()
            return frames
        frame = frame.f_back
    return [top] if top is not None else []


def chain_objects(coro: object) -> Iterator[object]:
    """Yield every object on *coro*'s await chain, *coro* first."""
    obj: Any = coro
    for _ in range(10_000):
        if obj is None:
            return
        yield obj
        if _frame_of(obj) is None:
            return
        obj = _awaiting(obj)


def where(frames: list[TaskFrame], machinery: tuple[str, ...]) -> TaskFrame | None:
    """Return the frame that says where a task is.

    That is the innermost frame of the caller's own code (outside the event
    loop libraries and plait), else the innermost of plait's (a worker
    waiting for its next item), else the outermost frame (a task that is all
    event-loop machinery, such as trio's system tasks).
    """
    inside_plait = None
    for info in reversed(frames):
        if info.file.startswith(machinery):
            continue
        if not info.file.startswith(_PLAIT_DIR):
            return info
        if inside_plait is None:
            inside_plait = info
    if inside_plait is not None:
        return inside_plait
    return frames[0] if frames else None


_PLAIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _frame_of(obj: Any) -> FrameType | None:
    for attribute in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(obj, attribute, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _awaiting(obj: Any) -> object:
    for attribute in ("cr_await", "gi_yieldfrom", "ag_await"):
        awaiting = getattr(obj, attribute, None)
        if awaiting is not None:
            return awaiting
    return None


def loop_machinery() -> tuple[str, ...]:
    """Return the path prefixes of the event-loop libraries now imported."""
    dirs = ["<frozen"]
    for name in _LOOP_PACKAGES:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path is None:
            continue
        if os.path.basename(path) == "__init__.py":
            dirs.append(os.path.dirname(path) + os.sep)
        else:
            dirs.append(path)
    return tuple(dirs)


def _short_path(path: str) -> str:
    """Return *path* from its package down, or its last two parts."""
    parts = path.replace(os.sep, "/").split("/")
    for anchor in ("site-packages", "dist-packages", "src"):
        if anchor in parts:
            index = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[index + 1 :])
    return "/".join(parts[-2:])
