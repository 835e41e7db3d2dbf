#!/usr/bin/env bash
# The support matrix and the benchmark harnesses, for .ci/run (which runs this
# beside the README's steps and prints its output when it ends).
#
# The suite runs with the lowest supported anyio on every supported Python
# this machine has (the README's test command is the newest anyio on 3.11);
# a supported Python the machine lacks is skipped and named, never silently.
# `nox -s tests` on a developer's machine runs the whole matrix and fails on
# a missing Python instead.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv-nox
. .venv-nox/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q 'nox>=2024.4'

echo "== the support matrix: the suite with the lowest anyio on each supported Python here"
status=0
nox --no-error-on-missing-interpreters -s tests -k lowest 2>&1 | tee .ci-logs/nox-tests.log ||
    status=$?
skipped="$(sed -n 's/.*Session tests-\([0-9.]*\).* skipped: Python interpreter .* not found.*/\1/p' \
    .ci-logs/nox-tests.log | sort -u | tr '\n' ' ')"
if [[ -n "$skipped" ]]; then
    echo "== the support matrix skipped Python ${skipped% }: not on this machine"
else
    echo "== the support matrix ran on every supported Python"
fi
[[ "$status" == 0 ]] || exit "$status"

echo "== benchmark harnesses, quick mode (they check themselves, not timings)"
nox -s bench
