"""The commands everyone uses: ``nox -l`` lists them.

``nox -s tests`` runs the suite on every supported Python (``PYTHONS``, the
same list as the classifiers in pyproject.toml) with the lowest and the
newest anyio, and fails when one of those Pythons is not on the machine; pass
``--no-error-on-missing-interpreters`` to run the ones there are, each
skipped one named in nox's summary. Interpreters are found on ``PATH`` and
among pyenv's installed versions, selected or not.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).parent
# The supported Pythons: the matrix, and what the classifiers must say.
PYTHONS = ["3.11", "3.12", "3.13"]
LOWEST_ANYIO = "anyio==4.15.0"
LINTED = [
    "src",
    "tests",
    "benchmarks",
    "stress",
    "notebooks",
    "docs/_ext",
    "noxfile.py",
]

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck"]
# A supported Python that is missing fails the run instead of skipping it.
nox.options.error_on_missing_interpreters = True
# Never download an interpreter: test the ones this machine has.
nox.options.download_python = "never"


def _pyenv_versions() -> list[str]:
    """pyenv's installed versions of the supported Pythons, newest first."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        found = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=False
        )
        root = found.stdout.strip() if found.returncode == 0 else None
    if not root or not (Path(root) / "versions").is_dir():
        return []
    versions = []
    for folder in (Path(root) / "versions").iterdir():
        match = re.fullmatch(r"(\d+\.\d+)\.\d+", folder.name)
        python = folder / "bin" / f"python{match[1]}" if match else None
        if match and match[1] in PYTHONS and python is not None and python.is_file():
            versions.append(folder.name)
    return sorted(versions, key=lambda v: tuple(map(int, v.split("."))), reverse=True)


def _let_pyenv_shims_find_every_python() -> None:
    # A pyenv shim such as python3.12 only runs the versions pyenv has
    # selected (3.11 alone, say), and nox then reports 3.12 as not found.
    # Selecting every installed supported version as well, in PYENV_VERSION
    # (pyenv's own way to have several at once), lets nox find them all.
    installed = _pyenv_versions()
    if not installed:
        return
    selected = os.environ.get("PYENV_VERSION", "")
    if not selected and shutil.which("pyenv"):
        found = subprocess.run(
            ["pyenv", "version-name"], capture_output=True, text=True, check=False
        )
        selected = found.stdout.strip() if found.returncode == 0 else ""
    names = [n for n in selected.split(":") if n and n != "system"]
    names += [v for v in installed if v not in names]
    os.environ["PYENV_VERSION"] = ":".join(names)


_let_pyenv_shims_find_every_python()


@nox.session(python=PYTHONS)
@nox.parametrize("anyio", ["lowest", "newest"])
def tests(session: nox.Session, anyio: str) -> None:
    """The whole suite on asyncio, uvloop and trio (eager tasks on 3.12+)."""
    session.install("-e", ".[test]")
    if anyio == "lowest":
        session.install(LOWEST_ANYIO)
    else:
        session.install("--upgrade", "anyio")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHONS[:1])
def wheel(session: nox.Session) -> None:
    """The suite against the built wheel, installed in a clean venv."""
    dist = Path(session.create_tmp()) / "dist"
    session.install("build")
    session.run("python", "-m", "build", "--wheel", "--outdir", str(dist))
    (built,) = dist.glob("plait-*.whl")
    session.install(f"{built}[test]")
    # Run from outside the checkout so `import plait` finds the wheel.
    session.chdir(session.create_tmp())
    session.run(
        "python",
        "-m",
        "pytest",
        str(ROOT / "tests"),
        "-p",
        "no:cacheprovider",
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        *session.posargs,
    )


@nox.session(python=PYTHONS[:1])
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


@nox.session(python=PYTHONS[:1])
def typecheck(session: nox.Session) -> None:
    """mypy --strict, pyright strict, and pyright --verifytypes at 100%."""
    session.install("-e", ".[dev]")
    session.run("mypy")
    # -p .: this project's settings, whatever pyrightconfig.json lies above it.
    session.run("pyright", "-p", ".")
    session.run("pyright", "-p", ".", "--verifytypes", "plait", "--ignoreexternal")


@nox.session(python=PYTHONS[:1])
def stress(session: nox.Session) -> None:
    """The stress harness: 10,000 seeded cases per event loop (`-- --short`: CI's)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "stress", *session.posargs)


@nox.session(python=PYTHONS[:1])
def bench(session: nox.Session) -> None:
    """The benchmarks: `nox -s bench` (both harnesses, quick) or `-- --full`."""
    session.install("-e", ".[bench]")
    if session.posargs:
        session.run("python", "-m", "benchmarks", *session.posargs)
        return
    session.run("python", "-m", "benchmarks", "--quick")
    session.run("python", "-m", "benchmarks.jobs", "--quick")


@nox.session(python=PYTHONS[:1])
def bench_jobs(session: nox.Session) -> None:
    """The durable queue against its hand-written baseline, and the admin
    queries at 1,000,000 jobs: `nox -s bench_jobs` (the performance page's
    jobs section, ~15 min) or `nox -s bench_jobs -- --quick`. PostgreSQL
    from $PLAIT_TEST_POSTGRES_DSN (`eval "$(bash .ci/postgres.sh)"`)."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "benchmarks.jobs", *session.posargs)


@nox.session(python=PYTHONS[:1])
def docs(session: nox.Session) -> None:
    """Build the site strictly into site/, and run and type-check every example.

    Serve the built site with `python -m http.server -d site` (the search box
    works only on a served site) or live with `mkdocs serve`.
    """
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_docs.py",
        "tests/test_docs_typecheck.py",
        *session.posargs,
    )


@nox.session(python=PYTHONS[:1])
def notebooks(session: nox.Session) -> None:
    """Execute every notebook (`nox -s notebooks -- --write` stores outputs)."""
    session.install("-e", ".[docs]")
    if "--write" in session.posargs:
        session.run("python", "tests/test_notebooks.py")
    else:
        session.run(
            "python", "-m", "pytest", "tests/test_notebooks.py", *session.posargs
        )


@nox.session(python=PYTHONS[:1])
def durable_chaos(session: nox.Session) -> None:
    """The durable queue's long multi-process runs: schedules with worker
    processes killed at random for 5 minutes per engine (CI runs 6 s).

    PostgreSQL cases need PLAIT_TEST_POSTGRES_DSN (`eval "$(bash .ci/postgres.sh)"`);
    replay a failure with PLAIT_SCHEDULE_CHAOS_SEED=<seed from its message>.
    """
    session.install("-e", ".[test]")
    env = {"PLAIT_SCHEDULE_CHAOS_SECONDS": "300"}
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_durable_schedules.py",
        "-k",
        "killed",
        "--timeout",
        "900",
        *session.posargs,
        env=env,
    )


@nox.session(python=PYTHONS[:1])
def dashboard_screenshots(session: nox.Session) -> None:
    """Retake docs/img/dashboard/*.png with the dashboard's browser tests.

    Needs Debian's chromium (`sudo bash .ci/chromium.sh`); the pictures are
    of the SQLite database those tests fill through the public API.
    """
    session.install("-e", ".[test]")
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_dashboard_browser.py",
        "-k",
        "sqlite",
        env={"PLAIT_DASHBOARD_SCREENSHOTS": str(ROOT / "docs" / "img" / "dashboard")},
    )
