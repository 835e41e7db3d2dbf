"""The stress harness's short mode (``python -m stress --short``), as CI runs it.

A few hundred seeded cases per event loop, over every family (see
``stress/__init__.py``); a failure prints each anomaly with the seed and the
command that replays it. Families failing today for a defect another change
owns are left out here and named in the output (``--skip-known``).
"""

from __future__ import annotations

import pytest

from stress.__main__ import main
from stress._model import Backend


def test_a_short_stress_run_finds_no_anomaly(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--short", "--backend", backend, "--skip-known", "-q"])
    assert status == 0, capsys.readouterr().out
