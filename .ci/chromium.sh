#!/usr/bin/env bash
# Make Debian's chromium available for plait's browser tests and docs screenshots.
#
# Usage (from .ci/run or a developer shell):
#     eval "$(bash .ci/chromium.sh)"
#
# stdout carries only a shell `export` line (PLAIT_TEST_CHROMIUM, the browser's
# path, which the dashboard's browser tests and the screenshot command read);
# progress goes to stderr. With `--env-file FILE` the same line is also written
# to FILE. Installs the `chromium` package with apt when no browser is found
# (as root; Debian's package, never a browser download from elsewhere), then
# checks that it starts headless. Any failure exits non-zero, so `set -e`
# callers stop.
set -euo pipefail

env_file=""
case "${1:-}" in
    --env-file) env_file="${2:?--env-file needs a path}" ;;
    "") ;;
    *) echo "usage: chromium.sh [--env-file FILE]" >&2; exit 2 ;;
esac

log() { echo "chromium.sh: $*" >&2; }

find_browser() {
    local path
    for path in /usr/bin/chromium /usr/bin/chromium-browser; do
        if [[ -x "$path" ]]; then
            echo "$path"
            return 0
        fi
    done
    return 1
}

browser="$(find_browser || true)"
if [[ -z "$browser" ]]; then
    if [[ "$(id -u)" != 0 ]]; then
        log "no chromium found and not root: cannot apt-get install (sudo apt-get install chromium)"
        exit 1
    fi
    log "installing chromium from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends chromium fonts-dejavu-core >&2
    browser="$(find_browser || true)"
    if [[ -z "$browser" ]]; then
        log "apt-get installed chromium but there is no /usr/bin/chromium"
        exit 1
    fi
fi

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
