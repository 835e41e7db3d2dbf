"""What a job list was asked for, checked, and the cursor where its next
page starts (tied to those filters, so a cursor cannot page another list)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal, cast

from .._model import payload_json
from ._rows import STATES, JobState

Order = Literal["newest", "due", "started", "finished", "key"]


@dataclasses.dataclass(frozen=True, slots=True)
class Filters:
    """What ``list_jobs`` was asked for, checked."""

    state: JobState | None = None
    type: str | None = None
    queue: str | None = None
    key_prefix: str | None = None

    def order(self) -> Order:
        if self.key_prefix is not None:
            return "key"
        if self.state is None:
            return "newest"
        if self.state in ("queued", "retrying"):
            return "due"
        if self.state == "running":
            return "started"
        return "finished"

    def signature(self) -> str:
        text = payload_json(dataclasses.asdict(self))
        return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def check_filters(
    call: str, state: object, type: object, queue: object, key_prefix: object
) -> Filters:
    """Validate list filters; TypeError/ValueError naming *call* and the argument."""
    if state is not None and state not in STATES:
        raise ValueError(
            f"{call} state must be one of {', '.join(STATES)} or None, got {state!r}"
        )
    for name, value in (("type", type), ("queue", queue), ("key_prefix", key_prefix)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{call} {name} must be a str or None, got {value!r}")
    if key_prefix == "":
        raise ValueError(f"{call} key_prefix must not be empty, got ''")
    return Filters(state, type, queue, key_prefix)  # type: ignore[arg-type]


def encode_cursor(filters: Filters, key: Sequence[Any]) -> str:
    text = json.dumps([filters.signature(), list(key)], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(call: str, filters: Filters, cursor: str) -> list[Any]:
    """Return the sort key a cursor carries; ValueError if it is not one of
    these filters' cursors."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        signature, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error):
        signature, key = None, None
    if signature != filters.signature() or not isinstance(key, list):
        raise ValueError(
            f"{call} cursor must be the next_cursor of a page listed with the "
            f"same filters, got {cursor!r}"
        )
    return cast("list[object]", key)  # a JSON array: any JSON values
