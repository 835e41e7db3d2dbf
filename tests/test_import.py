"""``import plait`` loads nothing optional.

Run in a fresh interpreter, because the test process itself has pytest,
hypothesis and (through the plugin) more loaded. The import-time comparison
with anyio lives in the benchmark (``python -m benchmarks``), not here: a
timing is no unit test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import plait

# Extras and tools plait must import lazily, only when the feature is used.
OPTIONAL = (
    "trio",
    "uvloop",
    "hypothesis",
    "pytest",
    "matplotlib",
    "numpy",
    "opentelemetry",
    "psycopg",
    "psycopg_pool",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "redis",
    "tqdm",
    "rich",
    "cronsim",
    "zoneinfo",
    "plait.testing",
    "plait.dashboard",
    "starlette",
    "jinja2",
    "multipart",
    "hypercorn",
    "playwright",
    "httpx",
)


def _modules_after(statement: str) -> set[str]:
    env = dict(os.environ)
    # The interpreter must find the same plait the tests import.
    src = str(Path(plait.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    return set(json.loads(out))


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_import_plait_loads_nothing_optional() -> None:
    modules = _modules_after("import plait")
    assert "plait" in modules
    loaded = [name for name in OPTIONAL if _loaded(modules, name)]
    assert loaded == [], f"import plait loaded optional modules: {loaded}"


def test_the_check_sees_an_import() -> None:
    # Guards the test above against passing vacuously.
    modules = _modules_after("import plait, trio")
    assert _loaded(modules, "trio")


def test_supervision_and_job_backends_load_on_first_use() -> None:
    code = (
        "import sys, plait\n"
        "lazy = ['plait._supervision._supervisor', 'plait._jobs.durable',"
        " 'plait._jobs._inproc']\n"
        "assert not [m for m in lazy if m in sys.modules], sys.modules.keys()\n"
        "assert plait.Supervisor.__module__ == 'plait'\n"
        "assert 'plait._supervision._supervisor' in sys.modules\n"
        "assert 'Supervisor' in dir(plait)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_dashboard_loads_its_extra_only_when_used() -> None:
    # `plait dashboard` must be able to say which extra is missing, so the
    # package imports Starlette and Jinja2 only when `app` is first used.
    extra = ("starlette", "jinja2", "multipart", "hypercorn")
    modules = _modules_after("import plait.dashboard")
    assert [name for name in extra if _loaded(modules, name)] == []
    modules = _modules_after("import plait.dashboard; plait.dashboard.app")
    assert _loaded(modules, "starlette")
    assert _loaded(modules, "jinja2")
