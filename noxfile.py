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
LOWEST_ANYIO = "anyio==4.16.0"
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
def explore_anyio(session: nox.Session) -> None:
    """anyio's own task group tests under schedule exploration: nothing new fails.

    Runs tests/test_taskgroups.py from the sdist of the installed anyio as
    it is, then with every test explored (``--plait-explore``) under a few
    seeds (``nox -s explore_anyio -- 5``; default 3). A test that fails
    explored but not unexplored is run again under the same seed: an
    explored schedule replays, so a failure that comes back every time is
    one the explorer made and fails the session, unless the event loop is
    shown to make that schedule itself (``LOOP_MADE``: a script that fails
    the test on the plain loop, no plait, is run and must fail it again);
    one that does not replay is timing (those tests use real time) and is
    reported.
    """
    import tarfile

    seeds = int(session.posargs[0]) if session.posargs else 3
    session.install("-e", ".[test]", "trustme", "pytest-mock")
    version = str(session.run("python", "-c", ANYIO_VERSION, silent=True)).strip()
    tmp = Path(session.create_tmp())
    session.run(
        "python", "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
        ":all:", f"anyio=={version}", "-d", str(tmp),
    )  # fmt: skip
    with tarfile.open(tmp / f"anyio-{version}.tar.gz") as sdist:
        sdist.extractall(tmp, filter="data")
    session.chdir(tmp / f"anyio-{version}")
    pytest = ["python", "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"]
    explored = ["--plait-explore", f"--plait-seeds={seeds}"]

    def failures(*args: str) -> set[str]:
        output = session.run(*pytest, *args, success_codes=[0, 1], silent=True)
        return {
            line.split()[1]
            for line in str(output).splitlines()
            if line.startswith(("FAILED ", "ERROR "))
        }

    suite = "tests/test_taskgroups.py"
    plain = {_without_seed(test) for test in failures(suite)}
    new = sorted(t for t in failures(suite, *explored) if _without_seed(t) not in plain)
    # A schedule replays: a failure the explorer made comes back each time.
    made = [t for t in new if all(failures(t, *explored) for _ in range(3))]
    session.log(
        f"anyio {version}: {suite}, {seeds} seeds: failures unexplored "
        f"{len(plain)}, explored only {len(new)}, of which replay {len(made)}"
    )
    for test in new:
        session.log(
            f"  {'replays' if test in made else 'timing, not replayed'}: {test}"
        )
    shown = {test: _loop_made(session, test) for test in map(_without_seed, made)}
    made = [t for t in made if not shown[_without_seed(t)]]
    if made:
        session.error(f"exploration made {len(made)} failure(s) anyio has not")


LOOP_MADE = {
    "tests/test_taskgroups.py::test_nested_task_group_filtering[trio]": (
        "tests/scripts/anyio_nested_filtering.py"
    ),
}
"""Explored failures of anyio's tests that the loop makes on its own: the
script that shows it (run from the checkout; exit 0: the plain loop failed it)."""


def _loop_made(session: nox.Session, test: str) -> bool:
    """Whether *test*'s explored failure is shown to be the loop's own."""
    script = LOOP_MADE.get(test)
    if script is None:
        return False
    shown = str(session.run("python", str(ROOT / script), silent=True)).strip()
    # The script exits 1 (and session.run raises) when the loop never failed it.
    session.log(f"  {test}: {shown} (no plait): the loop's own schedule")
    return True


ANYIO_VERSION = "from importlib.metadata import version; print(version('anyio'))"


def _without_seed(test: str) -> str:
    """Return a pytest test id without the plait seed among its parameters."""
    name, _, params = test.partition("[")
    kept = [p for p in params.rstrip("]").split("-") if p and not p.startswith("seed=")]
    return f"{name}[{'-'.join(kept)}]"


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
