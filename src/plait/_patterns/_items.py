"""Where a pool's items come from: one iterator, pulled lazily by its workers."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sized
from typing import Generic, TypeVar

from anyio import Lock

from .._core._awaitables import add_origin_note, short_repr

T = TypeVar("T")


class ItemSource(Generic[T]):
    """Items pulled lazily, one puller at a time, from a sync or async iterable.

    An error raised by the iterable itself carries a note and propagates like
    a failure of fn.
    """

    def __init__(self, pattern: str, items: Iterable[T] | AsyncIterable[T]) -> None:
        self.pattern = pattern
        self.pulled = 0
        self.exhausted = False
        self._sync: Iterator[T] | None = None
        self._async: AsyncIterator[T] | None = None
        self.length: int | None = None  # known up front for sized iterables
        if isinstance(items, AsyncIterable):
            self._async = aiter(items)
            self._lock = Lock(fast_acquire=True)
        elif isinstance(items, Iterable):
            self._sync = iter(items)
            if isinstance(items, Sized):
                self.length = len(items)
        else:
            raise TypeError(
                f"{pattern}() items must be an iterable or async iterable, "
                f"got {short_repr(items)}"
            )

    def sync_pairs(self) -> Iterator[tuple[int, T]] | None:
        """Return one shared ``(index, item)`` iterator, or None for async items.

        The fast path for sync iterables: workers call ``next(pairs, None)``
        themselves (atomic between checkpoints) and note errors themselves.
        """
        if self._sync is None:
            return None
        return enumerate(self._sync)

    @property
    def iterator(self) -> object:
        """The iterator items are pulled from (for error notes)."""
        return self._sync if self._sync is not None else self._async

    @property
    def is_async(self) -> bool:
        """True when items come from an async iterable."""
        return self._async is not None

    def pull_sync(self) -> tuple[int, T] | None:
        """Return the next ``(index, item)`` of a sync iterable, or None."""
        assert self._sync is not None
        if self.exhausted:
            return None
        try:
            item = next(self._sync)
        except StopIteration:
            self.exhausted = True
            return None
        except Exception as exc:
            self.exhausted = True
            note_items_error(exc, self.pattern, self._sync)
            raise
        index = self.pulled
        self.pulled = index + 1
        return index, item

    async def pull_async(self) -> tuple[int, T] | None:
        """Return the next ``(index, item)`` of an async iterable, or None."""
        assert self._async is not None
        async with self._lock:
            if self.exhausted:
                return None
            try:
                item = await anext(self._async)
            except StopAsyncIteration:
                self.exhausted = True
                return None
            except Exception as exc:
                self.exhausted = True
                note_items_error(exc, self.pattern, self._async)
                raise
            index = self.pulled
            self.pulled = index + 1
            return index, item

    async def aclose(self) -> None:
        """Close an async generator given as items (a no-op otherwise).

        An error its cleanup raises carries the items note, like any other
        error of the iterable.
        """
        aclose = getattr(self._async, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception as exc:
                note_items_error(exc, self.pattern, self._async)
                raise


def note_items_error(exc: BaseException, pattern: str, items: object) -> None:
    """Note on *exc* that the items iterable of *pattern* raised it."""
    add_origin_note(exc, pattern, "items iterable", items)
