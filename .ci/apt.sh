# Sourced by the .ci scripts that need a tool from Debian's packages
# (postgres.sh, chromium.sh): find it, or install it and find it then.

# find_or_install WHAT PACKAGE FINDER: print what the function FINDER prints
# when it succeeds; otherwise install PACKAGE with apt-get (after an update,
# as a fresh machine needs; root only) and try FINDER once more. Fails naming
# WHAT. PACKAGE may be several packages, space-separated. Progress goes to stderr.
find_or_install() {
    local what="$1" package="$2" finder="$3" found
    if found="$("$finder")"; then
        echo "$found"
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        echo "$what is not installed and this is not root: cannot apt-get install $package" >&2
        return 1
    fi
    echo "installing $package from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    # shellcheck disable=SC2086 # PACKAGE may name several packages
    apt-get install -y --no-install-recommends $package >&2
    if found="$("$finder")"; then
        echo "$found"
        return 0
    fi
    echo "apt-get installed $package, but $what is still not found" >&2
    return 1
}
