#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for plait's durable-job tests.
#
# Usage (from .ci/run or a developer shell):
#     eval "$(bash .ci/postgres.sh)"
#
#     trap 'bash .ci/postgres.sh --stop' EXIT
#
# stdout carries only shell `export` lines (PLAIT_TEST_POSTGRES_DSN, plus
# PLAIT_TEST_POSTGRES_DATA and PLAIT_TEST_POSTGRES_BIN, which `--stop` reads
# to stop the server as its owner: pg_ctl refuses to run as root); progress
# goes to stderr. With `--env-file FILE` the same lines are also
# written to FILE. Installs PostgreSQL from Debian's packages when no server
# binaries are present, initialises a cluster in a temp dir as an
# unprivileged user, listens on 127.0.0.1 on a free port, creates the
# database `plait_test`, and waits until it accepts connections. Any failure
# exits non-zero with the server log on stderr, so `set -e` callers stop.
set -euo pipefail

env_file=""
stop=0
case "${1:-}" in
    --env-file) env_file="${2:?--env-file needs a path}" ;;
    --stop) stop=1 ;;
    "") ;;
    *) echo "usage: postgres.sh [--env-file FILE | --stop]" >&2; exit 2 ;;
esac

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

. "$(dirname "$0")/apt.sh"
bindir="$(find_or_install "PostgreSQL (initdb, pg_ctl)" postgresql find_bindir)"
log "using $bindir"

# initdb refuses to run as root: use the packaged `postgres` user, or nobody.
run_as=()
owner=""
if [[ "$(id -u)" == 0 ]]; then
    if id postgres >/dev/null 2>&1; then
        owner=postgres
    else
        owner=nobody
    fi
    if command -v runuser >/dev/null 2>&1; then
        run_as=(runuser -u "$owner" --)
    else
        run_as=(su -s /bin/sh "$owner" -c)
    fi
fi

as_owner() {
    if [[ ${#run_as[@]} -eq 0 ]]; then
        "$@"
    elif [[ "${run_as[0]}" == runuser ]]; then
        "${run_as[@]}" "$@"
    else
        "${run_as[@]}" "$(printf '%q ' "$@")"
    fi
}

if [[ "$stop" == 1 ]]; then
    data="${PLAIT_TEST_POSTGRES_DATA:?--stop needs PLAIT_TEST_POSTGRES_DATA}"
    bindir="${PLAIT_TEST_POSTGRES_BIN:?--stop needs PLAIT_TEST_POSTGRES_BIN}"
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2
    exit 0
fi

base="$(mktemp -d /tmp/plait-pg.XXXXXX)"
data="$base/data"
sock="$base/sock"
mkdir -p "$sock"
if [[ -n "$owner" ]]; then
    chown -R "$owner" "$base"
fi
chmod 755 "$base"

port="$(python3 - <<'EOF'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
)"

log "initdb in $data (owner ${owner:-$(id -un)}), port $port"
as_owner "$bindir/initdb" -D "$data" -U plait --auth=trust -E UTF8 \
    --locale=C >"$base/initdb.log" 2>&1 || {
    cat "$base/initdb.log" >&2
    log "initdb failed"
    exit 1
}

if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sock -c max_connections=200" \
    start >&2; then
    cat "$base/server.log" >&2 || true
    log "PostgreSQL did not start"
    exit 1
fi

ready=0
for _ in $(seq 1 120); do
    if "$bindir/pg_isready" -h 127.0.0.1 -p "$port" -U plait >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.5
done
if [[ "$ready" != 1 ]]; then
    cat "$base/server.log" >&2 || true
    log "PostgreSQL is not accepting connections on 127.0.0.1:$port"
    exit 1
fi

"$bindir/createdb" -h 127.0.0.1 -p "$port" -U plait plait_test >&2
"$bindir/psql" -h 127.0.0.1 -p "$port" -U plait -d plait_test -qtAc "SELECT 1" >/dev/null || {
    cat "$base/server.log" >&2 || true
    log "cannot query the new database"
    exit 1
}

dsn="postgresql://plait@127.0.0.1:$port/plait_test"
log "ready: $dsn"
lines="export PLAIT_TEST_POSTGRES_DSN=$dsn
export PLAIT_TEST_POSTGRES_DATA=$data
export PLAIT_TEST_POSTGRES_BIN=$bindir"
if [[ -n "$env_file" ]]; then
    printf '%s\n' "$lines" >"$env_file"
fi
printf '%s\n' "$lines"
