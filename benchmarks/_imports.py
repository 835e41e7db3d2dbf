"""What ``import plait`` costs over importing the same names from anyio.

Both commands run under ``python -X importtime`` in fresh interpreters,
interleaved, after a warm-up run that writes any missing bytecode; the cost
of a run is the sum of the cumulative times of its top-level imports. The
report gives the medians and their difference, and the modules
``import plait`` loads that the anyio import does not.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_NAMES_SCRIPT = """
import json, anyio, anyio.abc, plait
top, abc = [], []
for name in plait.__all__:
    obj = getattr(plait, name)
    if getattr(anyio, name, None) is obj:
        top.append(name)
    elif getattr(anyio.abc, name, None) is obj:
        abc.append(name)
print(json.dumps([top, abc]))
"""

_MODULES_SCRIPT = "import json, sys\n{stmt}\nprint(json.dumps(sorted(sys.modules)))"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.pop("PYTHONIMPORTTIME", None)
    # Measure as an installed package runs: with compiled bytecode. (Some
    # machines set this, and then every run would compile plait's source
    # while anyio's wheel came with bytecode.)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
        timeout=120,
    )


def anyio_statement() -> str:
    """Return ``from anyio import ...`` for the names plait re-exports from anyio."""
    top, abc = json.loads(_python(_NAMES_SCRIPT).stdout)
    lines = []
    if top:
        lines.append(f"from anyio import {', '.join(top)}")
    if abc:
        lines.append(f"from anyio.abc import {', '.join(abc)}")
    return "; ".join(lines) or "import anyio"


def import_cost_us(statement: str) -> int:
    """Return the summed cumulative microseconds of the top-level imports."""
    stderr = _python(statement, "-X", "importtime").stderr
    total = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not name[1:].startswith(" "):  # top level: no nesting indent
            total += int(cumulative.strip())
    return total


def modules(statement: str) -> set[str]:
    """Return the modules in ``sys.modules`` after *statement*."""
    out = _python(_MODULES_SCRIPT.format(stmt=statement)).stdout
    return set(json.loads(out))


def measure(repeats: int) -> dict[str, Any]:
    """Measure both imports *repeats* times each, interleaved."""
    anyio_stmt = anyio_statement()
    plait_stmt = "import plait"
    plait_us, anyio_us = [], []
    _python(anyio_stmt)  # warm-up runs write any missing bytecode
    _python(plait_stmt)
    for _ in range(repeats):
        anyio_us.append(import_cost_us(anyio_stmt))
        plait_us.append(import_cost_us(plait_stmt))
    extra = sorted(modules(plait_stmt) - modules(anyio_stmt))
    return {
        "anyio_statement": anyio_stmt,
        "anyio_ms": statistics.median(anyio_us) / 1000,
        "plait_ms": statistics.median(plait_us) / 1000,
        "diff_ms": statistics.median(
            p - a for p, a in zip(plait_us, anyio_us, strict=True)
        )
        / 1000,
        "repeats": repeats,
        "extra_modules": extra,
    }
