"""Every family the harness runs, by name: add a new one here."""

from __future__ import annotations

from ._model import Family
from ._patterns import PATTERN_FAMILIES
from ._services import SERVICE_FAMILIES

FAMILIES: dict[str, Family] = {
    family.name: family for family in (*PATTERN_FAMILIES, *SERVICE_FAMILIES)
}
