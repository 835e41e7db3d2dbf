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

log() { echo "chromium.sh: $*" >&2; }

find_chromium() {
    local name
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

browser="$(find_chromium || true)"
if [[ -z "$browser" ]]; then
    if [[ "$(id -u)" != 0 ]]; then
        log "chromium is not installed and this is not root: cannot apt-get install"
        exit 1
    fi
    log "installing chromium from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends chromium >&2
    browser="$(find_chromium || true)"
    if [[ -z "$browser" ]]; then
        log "apt-get installed chromium but no chromium binary is on PATH"
        exit 1
    fi
fi
"$browser" --version >&2
echo "$browser"
