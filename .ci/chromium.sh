#!/usr/bin/env bash
# Make sure Debian's chromium is installed, for the headless-browser checks
# (the docs screenshots, the dashboard's browser tests).
#
# Usage (from .ci/run or a developer shell):
#     bash .ci/chromium.sh          # prints the browser's path on stdout
#
# Installs the `chromium` package with apt-get when no chromium binary is on
# the machine (root only; apt-get update first, as on a fresh machine), then
# prints the path of the binary. Progress goes to stderr; any failure exits
# non-zero, so `set -e` callers stop. Browsers are never downloaded from
# anywhere else: Playwright drives this binary (executable_path=...).
set -euo pipefail

find_chromium() {
    command -v chromium || command -v chromium-browser
}

. "$(dirname "$0")/apt.sh"
browser="$(find_or_install chromium chromium find_chromium)"
"$browser" --version >&2
echo "$browser"
