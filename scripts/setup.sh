#!/usr/bin/env bash
# setup.sh: installs what building (and, with "test", testing) needs, only when missing.
# Sourced by run.sh and test.sh; safe to run again. Debian 12 packages only, plus the
# Node test dependencies from tests/integration/package-lock.json (npm ci).
set -euo pipefail

SB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SB_BUILD_PACKAGES=(cmake make clang libclang-rt-14-dev pkg-config libhttp-parser-dev libuv1-dev
                   libjansson-dev libssl-dev uthash-dev libhiredis-dev libmsgpack-dev
                   libcurl4-openssl-dev libcrypt-dev)
# clang-format, clang-tidy and python3: the checks of tests/CMakeLists.txt (style, lint, layers).
SB_TEST_PACKAGES=(nodejs npm clang-format clang-tidy python3)
# iproute2 and nftables: the fault harness's network namespaces and its cut (tests/faults).
# chromium: the browser tests of the pages (tests/integration/web*.test.mjs, playwright-core).
# python3-socketio (with its websocket and polling transports): a second real client
# (tests/integration/helpdesk-python.test.mjs), run with Debian's /usr/bin/python3.
SB_CLUSTER_TEST_PACKAGES=(redis-server haproxy iproute2 nftables python3-socketio python3-websocket chromium
                          python3-requests)

sb_missing_packages() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
}

sb_apt_install() {
    local missing
    missing=$(sb_missing_packages "$@")
    [ -z "$missing" ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing Debian packages:" $missing >&2
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >&2
}

sb_setup_build() {
    sb_apt_install "${SB_BUILD_PACKAGES[@]}"
}

sb_setup_test() {
    sb_setup_build
    sb_setup_web
    sb_apt_install "${SB_CLUSTER_TEST_PACKAGES[@]}"
    # A Node.js that did not come from Debian (already on PATH) is used as it is.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        sb_apt_install "${SB_TEST_PACKAGES[@]}"
    fi
    local dir="$SB_ROOT/tests/integration"
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "setup: npm ci in tests/integration" >&2
        (cd "$dir" && npm ci --no-audit --no-fund >&2)
    fi
}

# The pages' browser bundle (web/package.json, pinned in web/package-lock.json): the official
# socket.io-client build, copied into web/vendor/ where the daemon's --web serves it.
sb_setup_web() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        sb_apt_install nodejs npm
    fi
    local dir="$SB_ROOT/web" dist
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        echo "setup: npm ci in web" >&2
        (cd "$dir" && npm ci --omit=dev --no-audit --no-fund >&2)
    fi
    dist="$dir/node_modules/socket.io-client/dist"
    mkdir -p "$dir/vendor"
    if [ ! -f "$dir/vendor/socket.io.min.js" ] || [ "$dist/socket.io.min.js" -nt "$dir/vendor/socket.io.min.js" ]; then
        cp -p "$dist/socket.io.min.js" "$dist/socket.io.min.js.map" "$dir/vendor/"
    fi
}

# Configures and builds one build type into build/<type> (lower case).
sb_build() {
    local type="$1" dir
    dir="$SB_ROOT/build/$(echo "$type" | tr '[:upper:]' '[:lower:]')"
    CC=clang cmake -S "$SB_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="$type" >&2
    cmake --build "$dir" -j"$(nproc)" >&2
    echo "$dir"
}
