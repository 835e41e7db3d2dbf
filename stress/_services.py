"""The Supervisor and JobWorker families (driven through their public APIs)."""

from __future__ import annotations

from ._model import Family

SERVICE_FAMILIES: tuple[Family, ...] = ()
