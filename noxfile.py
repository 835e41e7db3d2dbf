"""The commands everyone uses: ``nox -l`` lists them."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck"]

ROOT = Path(__file__).parent
# Every Python from 3.11 to 3.13 the machine has (pyenv puts them side by side).
PYTHONS = [v for v in ("3.11", "3.12", "3.13") if shutil.which(f"python{v}")]
LOWEST_ANYIO = "anyio==4.15.0"


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
    paths = [
        "src",
        "tests",
        "benchmarks",
        "stress",
        "notebooks",
        "docs/_ext",
        "noxfile.py",
    ]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(python=PYTHONS[:1])
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src and tests."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHONS[:1])
def stress(session: nox.Session) -> None:
    """The stress harness: 10,000 seeded cases per event loop (`-- --short`: CI's)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "stress", *session.posargs)


@nox.session(python=PYTHONS[:1])
def bench(session: nox.Session) -> None:
    """The benchmarks: `nox -s bench` (quick) or `nox -s bench -- --full`."""
    session.install("-e", ".[bench]")
    args = session.posargs or ["--quick"]
    session.run("python", "-m", "benchmarks", *args)


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
    """Build the site strictly, and run every example in the docs."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})
    session.run("python", "-m", "pytest", "tests/test_docs.py", *session.posargs)


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
