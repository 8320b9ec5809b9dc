#!/usr/bin/env bash
# tidy.sh BUILD_DIR: runs clang-tidy (.clang-tidy's checks) over the project's own C sources
# in BUILD_DIR's compilation database; fails on any finding.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:?usage: tidy.sh BUILD_DIR}"
cd "$root"
mapfile -t files < <(git ls-files 'base/*.c' 'protocol/*.c' 'server/*.c' 'examples/*.c')
run-clang-tidy -quiet -j 2 -p "$build" "${files[@]/#/$root/}" >"$build/tidy.log" 2>&1 || {
    sed -E 's/\x1b\[[0-9;]*m//g' "$build/tidy.log" | grep -E 'warning:|error:' | sort -u >&2 || cat "$build/tidy.log" >&2
    exit 1
}
