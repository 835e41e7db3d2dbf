#!/usr/bin/env bash
# The support matrix's CI cell and the benchmark harnesses, for .ci/run
# (which runs this beside the README's steps and prints its output at the end).
#
# The README's test command ran the suite on Python 3.11 with the newest
# anyio; this runs it with the lowest supported anyio, then names the other
# supported Pythons CI leaves to `nox -s tests` (which runs every Python with
# both anyio versions, and fails when one is missing), saying for each
# whether this machine has it. Running them all here too would double CI's
# time on a machine with pyenv's versions.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv-nox
. .venv-nox/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q 'nox>=2024.4'

echo "== the support matrix: the suite on Python 3.11 with the lowest anyio"
nox -s "tests-3.11(anyio='lowest')"
python - <<'PY'
import runpy
import shutil
import subprocess

# The noxfile's own discovery: PATH, and pyenv's installed versions.
pythons = runpy.run_path("noxfile.py")["PYTHONS"]
for version in pythons[1:]:
    found = shutil.which(f"python{version}")
    runs = found is not None and subprocess.run(
        [found, "-c", ""], capture_output=True, check=False
    ).returncode == 0
    where = "on this machine: `nox -s tests` runs it" if runs else "not on this machine"
    print(f"== the support matrix in CI skipped Python {version} ({where})")
PY

echo "== benchmark harnesses, quick mode (they check themselves, not timings)"
nox -s bench
