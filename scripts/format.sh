#!/usr/bin/env bash
# format.sh: rewrites every C file of the tree in the style of .clang-format (clang-format 14).
# --check: changes nothing, lists the files that differ, and fails if there is one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
if [[ "${1:-}" == "--check" ]]; then
    bad=0
    for f in "${files[@]}"; do
        if ! clang-format --style=file "$f" | cmp -s - "$f"; then
            echo "not formatted: $f (scripts/format.sh fixes it)" >&2
            bad=1
        fi
    done
    exit $bad
fi
clang-format --style=file -i "${files[@]}"
