#!/usr/bin/env bash
# run.sh: builds the server (Release) and runs it in the foreground.
# Embedded single-node mode on 127.0.0.1:3000 by default; every argument goes to the server
# (see `scripts/run.sh --help`).
#
# The helpdesk needs a secret to check tokens with. When neither SWITCHBOARD_JWT_SECRET nor
# SWITCHBOARD_API_KEY is set (and no flag gives one), a random development secret is made
# once in build/dev-jwt-secret (mode 600) and used: sign test tokens with it. Production
# sets its own (see README, Configuration).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
sb_setup_build
dir=$(sb_build Release)
if [[ -z "${SWITCHBOARD_JWT_SECRET:-}${SWITCHBOARD_API_KEY:-}" && ! " $* " =~ \ --(jwt-secret|api-key|help) ]]; then
    secret_file="$SB_ROOT/build/dev-jwt-secret"
    if [[ ! -s "$secret_file" ]]; then
        (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n" > "$secret_file")
    fi
    SWITCHBOARD_JWT_SECRET=$(cat "$secret_file")
    export SWITCHBOARD_JWT_SECRET
    echo "run.sh: development JWT secret in $secret_file" >&2
fi
exec "$dir/switchboard" "$@"
