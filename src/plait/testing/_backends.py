"""The event loops a suite runs on: one list, for anyio's fixture and for run()."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

from .._core._checks import check_choice
from ._clock import Backend

_ALL: tuple[Backend, ...] = ("asyncio", "uvloop", "trio")


def backends() -> tuple[Backend, ...]:
    """Return the event loops installed here: asyncio, then uvloop and trio.

    The names are those ``plait.testing.run`` takes; ``anyio_backend_for``
    turns one into the value anyio's pytest plugin takes. One list serves
    both, so a suite names its event loops once.

    Example (``conftest.py``)::

        import pytest
        from plait import testing

        @pytest.fixture(params=testing.backends())
        def anyio_backend(request):
            return testing.anyio_backend_for(request.param)

    >>> from plait.testing import backends
    >>> backends()[0]
    'asyncio'
    """
    found: list[Backend] = ["asyncio"]
    if sys.platform != "win32" and importlib.util.find_spec("uvloop") is not None:
        found.append("uvloop")
    if importlib.util.find_spec("trio") is not None:
        found.append("trio")
    return tuple(found)


def anyio_backend_for(name: Backend) -> tuple[str, dict[str, Any]]:
    """Return the ``anyio_backend`` value for the event loop *name*.

    Example:
        >>> from plait.testing import anyio_backend_for
        >>> anyio_backend_for("uvloop")
        ('asyncio', {'use_uvloop': True})
    """
    check_choice("anyio_backend_for()", "name", name, _ALL)
    if name == "uvloop":
        return ("asyncio", {"use_uvloop": True})
    return (name, {})
