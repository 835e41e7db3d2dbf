#!/usr/bin/env bash
# Make Debian's chromium available for plait's browser tests and docs screenshots.
#
# Usage (from .ci/run or a developer shell):
#     eval "$(bash .ci/chromium.sh)"
#
# stdout carries only a shell `export` line (PLAIT_TEST_CHROMIUM, the browser's
# path, which the dashboard's browser tests and the docs screenshots read);
# progress goes to stderr. With `--env-file FILE` the same line is also written
# to FILE. Installs the `chromium` package with apt when no browser is found
# (as root; Debian's package, never a browser download from elsewhere:
# Playwright drives this binary through executable_path), then checks that it
# starts headless. Any failure exits non-zero, so `set -e` callers stop.
set -euo pipefail

env_file=""
case "${1:-}" in
    --env-file) env_file="${2:?--env-file needs a path}" ;;
    "") ;;
    *) echo "usage: chromium.sh [--env-file FILE]" >&2; exit 2 ;;
esac

log() { echo "chromium.sh: $*" >&2; }

find_chromium() {
    command -v chromium || command -v chromium-browser
}

. "$(dirname "$0")/apt.sh"
browser="$(find_or_install chromium "chromium fonts-dejavu-core" find_chromium)"

# One headless start proves the libraries are all there before any test runs.
profile="$(mktemp -d /tmp/plait-chromium.XXXXXX)"
trap 'rm -rf "$profile"' EXIT
if ! timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --user-data-dir="$profile" --dump-dom 'data:text/html,<p>ok</p>' \
    2>"$profile/stderr.log" | grep -q '<p>ok</p>'; then
    cat "$profile/stderr.log" >&2 || true
    log "$browser does not start headless"
    exit 1
fi
log "ready: $browser ($("$browser" --version 2>/dev/null | head -1))"

line="export PLAIT_TEST_CHROMIUM=$browser"
if [[ -n "$env_file" ]]; then
    printf '%s\n' "$line" >"$env_file"
fi
printf '%s\n' "$line"
