#!/usr/bin/env bash
# run.sh: builds the server (Release) and runs it in the foreground.
# Embedded single-node mode on 127.0.0.1:3000 by default; every argument goes to the server
# (see `scripts/run.sh --help`).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
sb_setup_build
dir=$(sb_build Release)
exec "$dir/switchboard" "$@"
