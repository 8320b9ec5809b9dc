#!/usr/bin/env bash
# test.sh: builds and runs every test twice: in a Release build and in an ASan+UBSan build
# (which also runs the fuzzers for a bounded number of iterations). Any failure, including
# a sanitizer report, fails the run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
sb_setup_test
for type in Release Asan; do
    dir=$(sb_build "$type")
    echo "== ctest ($type) ==" >&2
    (cd "$dir" && ctest --output-on-failure --timeout 900 "$@")
done
