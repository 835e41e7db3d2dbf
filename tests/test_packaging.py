"""What a user downloads: the sdist and the wheel, built as a release would be.

One build per session (``python -m build`` without isolation: hatchling
comes with the test extra, so nothing is downloaded) makes the sdist and then
the wheel from the unpacked sdist, which also proves the sdist complete. The
tests read both archives and their metadata as an installer would.
"""

from __future__ import annotations

import ast
import email.message
import email.parser
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

import pytest

import plait

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAME_VERSION = f"plait-{plait.__version__}"
URL_LABELS = {"Documentation", "Source", "Issues", "Changelog"}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist, then the wheel from it; return the folder of both."""
    pytest.importorskip("build", reason="the packaging tests: the test extra")
    pytest.importorskip("hatchling", reason="the packaging tests: the test extra")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> zipfile.ZipFile:
    (path,) = dist.glob("plait-*.whl")
    assert path.name == f"{NAME_VERSION}-py3-none-any.whl"
    return zipfile.ZipFile(path)


@pytest.fixture(scope="module")
def sdist(dist: Path) -> tarfile.TarFile:
    (path,) = dist.glob("plait-*.tar.gz")
    assert path.name == f"{NAME_VERSION}.tar.gz"
    return tarfile.open(path)


def _metadata(text: str) -> email.message.Message:
    return email.parser.Parser().parsestr(text)


def _sdist_names(sdist: tarfile.TarFile) -> set[str]:
    prefix = f"{NAME_VERSION}/"
    names = {member.name for member in sdist.getmembers() if member.isfile()}
    assert all(name.startswith(prefix) for name in names)
    return {name.removeprefix(prefix) for name in names}


def test_wheel_holds_the_package_and_its_metadata_only(
    wheel: zipfile.ZipFile,
) -> None:
    info = f"{NAME_VERSION}.dist-info/"
    tops = {PurePosixPath(name).parts[0] for name in wheel.namelist()}
    assert tops == {"plait", info.rstrip("/")}
    names = set(wheel.namelist())
    sources = {
        path.relative_to(ROOT / "src").as_posix()
        for path in (ROOT / "src" / "plait").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert {name for name in names if name.startswith("plait/")} == sources
    assert "plait/py.typed" in names
    for unwanted in ("tests", "benchmarks", "docs", "notebooks", "conftest"):
        assert not any(unwanted in PurePosixPath(n).parts for n in names), unwanted


def test_wheel_carries_the_licence(wheel: zipfile.ZipFile) -> None:
    licence = wheel.read(f"{NAME_VERSION}.dist-info/licenses/LICENSE").decode()
    assert licence == (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License\n")


def test_wheel_metadata_is_what_pyproject_says(wheel: zipfile.ZipFile) -> None:
    meta = _metadata(wheel.read(f"{NAME_VERSION}.dist-info/METADATA").decode())
    project = PYPROJECT["project"]
    assert meta["Name"] == "plait"
    assert meta["Version"] == plait.__version__ == project["version"]
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.11"
    runtime = [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert sorted(runtime) == ["anyio>=4.16", "sniffio>=1.3"]
    assert meta.get_all("Classifier") == project["classifiers"]
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL") or [])
    assert set(urls) == URL_LABELS
    assert all(url.startswith("https://") for url in urls.values())
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload() == (ROOT / "README.md").read_text()


def test_wheel_entry_points(wheel: zipfile.ZipFile) -> None:
    text = wheel.read(f"{NAME_VERSION}.dist-info/entry_points.txt").decode()
    assert "[console_scripts]\nplait = plait._cli._main:main" in text
    assert "[pytest11]\nplait = plait.testing._pytest_plugin" in text


def test_sdist_can_build_and_test_the_package(sdist: tarfile.TarFile) -> None:
    names = _sdist_names(sdist)
    for required in (
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "PKG-INFO",
        "src/plait/py.typed",
        "src/plait/__init__.py",
        "tests/conftest.py",
        "notebooks/README.md",
        "docs/index.md",
        "mkdocs.yml",
    ):
        assert required in names, required
    tracked = subprocess.run(
        ["git", "ls-files", "src", "tests", "notebooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if tracked.returncode == 0:  # a checkout (not an unpacked sdist)
        missing = set(tracked.stdout.split()) - names
        assert missing == set()
    for unwanted in (".ci", ".git", ".venv", ".venv-ci", "site", "dist", ".nox"):
        assert not any(n.split("/")[0] == unwanted for n in names), unwanted
    assert not any("__pycache__" in n for n in names)


def test_sdist_metadata_matches_the_wheel(
    sdist: tarfile.TarFile, wheel: zipfile.ZipFile
) -> None:
    member = sdist.extractfile(f"{NAME_VERSION}/PKG-INFO")
    assert member is not None
    sdist_meta = _metadata(member.read().decode())
    wheel_meta = _metadata(wheel.read(f"{NAME_VERSION}.dist-info/METADATA").decode())
    for field in ("Name", "Version", "License-Expression", "Requires-Python"):
        assert sdist_meta[field] == wheel_meta[field], field
    assert sdist_meta.get_all("Project-URL") == wheel_meta.get_all("Project-URL")


# The README is the package's page on the index: it must read well there.

_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def test_readme_links_work_outside_the_repository() -> None:
    targets = [m["target"] for m in _LINK.finditer((ROOT / "README.md").read_text())]
    assert targets, "the README links to the docs"
    relative = [t for t in targets if not t.startswith(("https://", "#"))]
    assert relative == []


def test_readme_links_point_at_the_project_home() -> None:
    urls = PYPROJECT["project"]["urls"]
    assert set(urls) == URL_LABELS
    text = (ROOT / "README.md").read_text()
    assert urls["Documentation"] in text
    assert urls["Source"] in text


# One statement of what is supported: the matrix nox runs, the classifiers,
# requires-python and the README's table (which the docs' home page includes).


def _nox_pythons() -> list[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PYTHONS" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, list)
            return [str(v) for v in value]
    raise AssertionError("noxfile.py has no PYTHONS list")


def test_classifiers_name_the_pythons_the_matrix_tests() -> None:
    project = PYPROJECT["project"]
    prefix = "Programming Language :: Python :: 3."
    classified = [
        c.removeprefix("Programming Language :: Python :: ")
        for c in project["classifiers"]
        if c.startswith(prefix)
    ]
    pythons = _nox_pythons()
    assert classified == pythons
    assert project["requires-python"] == f">={pythons[0]}"


def test_readme_states_the_supported_versions_once() -> None:
    text = (ROOT / "README.md").read_text()
    begin, end = "<!-- --8<-- [start:support] -->", "<!-- --8<-- [end:support] -->"
    assert text.count(begin) == text.count(end) == 1
    section = text[text.index(begin) : text.index(end)]
    *head, last = _nox_pythons()
    assert f"| Python | {', '.join(head)} and {last} " in section
    lowest = re.search(
        r'LOWEST_ANYIO = "anyio==(\d+\.\d+)', (ROOT / "noxfile.py").read_text()
    )
    assert lowest is not None
    assert f"| anyio | {lowest[1]} and newer" in section
    assert f"anyio>={lowest[1]}" in PYPROJECT["project"]["dependencies"]
    home = (ROOT / "docs" / "index.md").read_text()
    assert '--8<-- "README.md:support"' in home
