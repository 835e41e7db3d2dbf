"""``plait worker --drain``'s progress display: rich, tqdm or plain lines,
and a last frame that accounts for every job."""

from __future__ import annotations

import importlib
import sys
import time

import anyio
from anyio import TASK_STATUS_IGNORED
from anyio.abc import TaskStatus

from ._calls import close_in_thread, connect, in_thread
from ._engine import DatabaseUnavailableError
from ._rows import FINISHED, QueueStats


async def show_progress(
    dsn: str, kind: str, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED
) -> None:
    """Show the drain's progress until cancelled, then a last frame that
    accounts for every job: finished ones by outcome, and what is left."""
    engine = await connect(dsn)
    bar = _Progress.create(kind)
    first: QueueStats | None = None
    try:
        first = await in_thread(engine.stats, now=time.time())
        task_status.started()
        while True:
            stats = await in_thread(engine.stats, now=time.time())
            finished = sum(_since(first, stats).values())
            bar.update(finished, finished + stats.pending, stats)
            await anyio.sleep(0.5)
    finally:
        # After the worker stopped: read once more, so the last frame is
        # the end state, not the last poll's.
        with anyio.CancelScope(shield=True):
            try:
                if first is None:  # the first read failed: nothing to count from
                    bar.close()
                else:
                    stats = await in_thread(engine.stats, now=time.time())
                    bar.finish(_since(first, stats), stats)
            except DatabaseUnavailableError as exc:
                bar.close()
                print(f"drain: final counts unavailable: {exc}", file=sys.stderr)
            finally:
                await close_in_thread(engine)


def _since(first: QueueStats, now: QueueStats) -> dict[str, int]:
    """Jobs that reached each final state since *first* was read."""
    return {s: now.counts[s] - first.counts[s] for s in FINISHED}


class _Progress:
    """A drain progress display: rich, tqdm, or a plain line per second."""

    @staticmethod
    def create(kind: str) -> _Progress:
        if kind in ("auto", "rich"):
            try:
                return _RichProgress()
            except ImportError:
                if kind == "rich":
                    raise
        if kind in ("auto", "tqdm"):
            try:
                return _TqdmProgress()
            except ImportError:
                if kind == "tqdm":
                    raise
        return _Progress()

    def __init__(self) -> None:
        self._last = 0.0

    def update(self, finished: int, total: int, stats: QueueStats) -> None:
        now = time.monotonic()
        if now - self._last < 1.0:
            return
        self._last = now
        c = stats.counts
        print(
            f"drain: {finished}/{total} finished; queued {c['queued']}, "
            f"retrying {c['retrying']}, running {c['running']}",
            file=sys.stderr,
            flush=True,
        )

    def finish(self, finished: dict[str, int], stats: QueueStats) -> None:
        """Draw the last frame: every job finished during the drain by
        outcome, and the jobs left (not due yet, or run by other workers)."""
        done = sum(finished.values())
        self.complete(done)
        self.close()
        c = stats.counts
        outcomes = ", ".join(f"{state} {n}" for state, n in finished.items())
        print(
            f"drain: {done}/{done} finished ({outcomes}); left: queued "
            f"{c['queued']}, retrying {c['retrying']}, running {c['running']}",
            file=sys.stderr,
            flush=True,
        )

    def complete(self, finished: int) -> None:
        """Fill the bar: *finished* of *finished*."""

    def close(self) -> None:
        pass


class _RichProgress(_Progress):
    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress

        super().__init__()
        self._progress = Progress(console=Console(stderr=True))
        self._task = self._progress.add_task("drain", total=None)
        self._progress.start()

    def update(self, finished: int, total: int, stats: QueueStats) -> None:
        self._progress.update(self._task, completed=finished, total=total)

    def complete(self, finished: int) -> None:
        self._progress.update(self._task, completed=finished, total=finished)

    def close(self) -> None:
        self._progress.stop()


class _TqdmProgress(_Progress):
    def __init__(self) -> None:
        # Through importlib: tqdm ships no type hints.
        tqdm = importlib.import_module("tqdm").tqdm
        super().__init__()
        self._bar = tqdm(desc="drain", unit="job", file=sys.stderr)

    def update(self, finished: int, total: int, stats: QueueStats) -> None:
        self._bar.total = total
        self._bar.n = finished
        self._bar.refresh()

    def complete(self, finished: int) -> None:
        self._bar.total = self._bar.n = finished
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()
