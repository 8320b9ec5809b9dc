#!/usr/bin/env bash
# run.sh: builds the server (Release) and runs it in the foreground.
# Embedded single-node mode on 127.0.0.1:3000 by default; every argument goes to the server
# (see `scripts/run.sh --help`).
#
# It serves the repository's web/ folder (--web: /widget.js and the agent console /console/,
# with the socket.io-client bundle setup.sh fetches from npm) unless an argument says --web.
#
# The helpdesk needs a secret to check tokens with. When neither SWITCHBOARD_JWT_SECRET nor
# SWITCHBOARD_API_KEY is set (and no flag gives one), a random development secret is made
# once in build/dev-jwt-secret (mode 600) and used: sign test tokens with it. With that
# development secret, and no --host (the default is loopback), the daemon also runs the demo
# (--demo): it prints the demo page's and the console's addresses. Production sets its own
# secret (see README, Configuration), which turns the demo off.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
sb_setup_build
sb_setup_web
dir=$(sb_build Release)
args=("$@")
if [[ ! " $* " =~ \ --web[\ =] && -z "${SWITCHBOARD_WEB:-}" ]]; then
    args+=(--web "$SB_ROOT/web")
fi
if [[ -z "${SWITCHBOARD_JWT_SECRET:-}${SWITCHBOARD_API_KEY:-}" && ! " $* " =~ \ --(jwt-secret|api-key|help) ]]; then
    secret_file="$SB_ROOT/build/dev-jwt-secret"
    if [[ ! -s "$secret_file" ]]; then
        (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n" > "$secret_file")
    fi
    SWITCHBOARD_JWT_SECRET=$(cat "$secret_file")
    export SWITCHBOARD_JWT_SECRET
    echo "run.sh: development JWT secret in $secret_file" >&2
    if [[ ! " $* " =~ \ --host && -z "${SWITCHBOARD_HOST:-}" ]]; then
        args+=(--demo)
    fi
fi
exec "$dir/switchboard" "${args[@]}"
