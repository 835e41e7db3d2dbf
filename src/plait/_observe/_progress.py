"""Progress bars for streams of items: ready observers for tqdm and rich.

Neither library is imported by ``import plait``; each is imported when its
observer is created (``pip install 'plait[tqdm]'`` or ``'plait[rich]'``).
A bar counts the items that ended (succeeded or failed) against the total
when the items have a ``len()``, and shows failures, retries and
cancellations as they happen. One observer draws one stream at a time: it
opens a bar when a stream opens and closes it when the stream ends.
"""

from __future__ import annotations

import importlib
from typing import Any

from .._core._observers import ItemEvent, Observer


class _Counts:
    """Outcomes counted for a bar's postfix."""

    __slots__ = ("cancelled", "failed", "retried")

    def __init__(self) -> None:
        self.failed = self.retried = self.cancelled = 0

    def text(self) -> str:
        parts = [
            f"{name}={count}"
            for name, count in (
                ("failed", self.failed),
                ("retried", self.retried),
                ("cancelled", self.cancelled),
            )
            if count
        ]
        return ", ".join(parts)


class _Bar(Observer):
    """What both bars share: counting outcomes, advancing on each item's end."""

    _counts: _Counts

    def on_retry(self, event: ItemEvent) -> None:
        """Count a retry."""
        self._counts.retried += 1
        self._show_counts()

    def on_exit(self, event: ItemEvent) -> None:
        """Advance the bar for an item that ended (count it if it failed)."""
        if event.outcome == "cancelled":
            self._counts.cancelled += 1
            self._show_counts()
            return
        if event.outcome == "failed":
            self._counts.failed += 1
            self._show_counts()
        self._advance()

    def _advance(self) -> None:
        raise NotImplementedError

    def _show_counts(self) -> None:
        raise NotImplementedError


class TqdmObserver(_Bar):
    """Show a stream's progress as a ``tqdm`` bar.

    Pass it as ``observer=`` to ``bounded_map``, ``imap`` or
    ``as_completed``. The bar's total is ``len(items)`` when the items have
    one; it advances by one for each item that succeeded or failed, and its
    postfix counts failures, retries and cancelled items.

    Args:
        desc: the bar's label; default the pattern's name.
        **options: passed on to ``tqdm.tqdm`` (``file``, ``leave``,
            ``position``, ``unit``, ``mininterval`` ...).

    Raises:
        ImportError: tqdm is not installed (``pip install 'plait[tqdm]'``).

    Example:
        >>> import io, anyio, plait
        >>> async def double(x: int) -> int:
        ...     return 2 * x
        >>> out = io.StringIO()
        >>> bar = plait.TqdmObserver(file=out, ascii=True)
        >>> async def main() -> list[int]:
        ...     return await plait.bounded_map(double, range(3), limit=2, observer=bar)
        >>> anyio.run(main)
        [0, 2, 4]
        >>> "3/3" in out.getvalue()
        True
    """

    def __init__(self, *, desc: str | None = None, **options: Any) -> None:
        try:
            # Through importlib: tqdm ships no type hints.
            tqdm = importlib.import_module("tqdm").tqdm
        except ImportError:
            raise ImportError(
                "TqdmObserver needs the tqdm package: pip install 'plait[tqdm]'"
            ) from None
        self._tqdm = tqdm
        self._desc = desc
        self._options = {"unit": "item", **options}
        self._counts = _Counts()
        self.bar: Any = None
        """The ``tqdm`` bar of the stream under way (``None`` between streams)."""

    def on_open(self, event: ItemEvent) -> None:
        """Open a bar for the stream."""
        self._counts = _Counts()
        desc = self._desc if self._desc is not None else event.source
        self.bar = self._tqdm(total=event.total, desc=desc, **self._options)

    def on_close(self, event: ItemEvent) -> None:
        """Close the stream's bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _advance(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def _show_counts(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self._counts.text(), refresh=False)


class RichObserver(_Bar):
    """Show a stream's progress as a task of a ``rich`` progress display.

    Pass it as ``observer=`` to ``bounded_map``, ``imap`` or
    ``as_completed``. Given a ``rich.progress.Progress`` that you run (``with
    Progress() as progress:``), each stream adds a task to it, so several
    streams show together; without one, the observer makes its own display
    for each stream, started when the stream opens and stopped when it ends.

    Args:
        progress: the display to add tasks to; default one per stream.
        description: the task's label; default the pattern's name.
        **options: passed on to the ``Progress`` it makes (``console``,
            ``transient``, ``refresh_per_second`` ...), when it makes one.

    Raises:
        ImportError: rich is not installed (``pip install 'plait[rich]'``).

    Example:
        >>> import io, anyio, plait
        >>> from rich.console import Console
        >>> async def double(x: int) -> int:
        ...     return 2 * x
        >>> out = io.StringIO()
        >>> bar = plait.RichObserver(console=Console(file=out, width=80))
        >>> async def main() -> list[int]:
        ...     return await plait.bounded_map(double, range(3), limit=2, observer=bar)
        >>> anyio.run(main)
        [0, 2, 4]
        >>> "3/3" in out.getvalue()
        True
    """

    def __init__(
        self,
        progress: Any = None,
        *,
        description: str | None = None,
        **options: Any,
    ) -> None:
        try:
            from rich import progress as rich_progress
        except ImportError:
            raise ImportError(
                "RichObserver needs the rich package: pip install 'plait[rich]'"
            ) from None
        self._rich = rich_progress
        self._given = progress
        self._description = description
        self._options = options
        self._counts = _Counts()
        self.progress: Any = progress
        """The ``Progress`` display in use (``None`` between streams, if owned)."""
        self._task: Any = None

    def on_open(self, event: ItemEvent) -> None:
        """Add a task for the stream (and start a display, if it owns one)."""
        self._counts = _Counts()
        if self._given is None:
            rich = self._rich
            self.progress = rich.Progress(
                rich.TextColumn("{task.description}"),
                rich.BarColumn(),
                rich.MofNCompleteColumn(),
                rich.TimeElapsedColumn(),
                rich.TimeRemainingColumn(),
                rich.TextColumn("{task.fields[counts]}"),
                **self._options,
            )
            self.progress.start()
        description = (
            self._description if self._description is not None else event.source
        )
        self._task = self.progress.add_task(description, total=event.total, counts="")

    def on_close(self, event: ItemEvent) -> None:
        """Stop the display, if the observer made it."""
        if self._given is None and self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance(self._task)

    def _show_counts(self) -> None:
        if self.progress is not None:
            self.progress.update(self._task, counts=self._counts.text())
