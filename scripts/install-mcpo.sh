#!/usr/bin/env bash
# Installs mcpo (the MCP-to-OpenAPI proxy Open WebUI uses) pinned, in a venv of its own under
# target/mcpo-venv, and prints the mcpo binary's path. Idempotent: a no-op when the pinned
# version is already there. mcpo 0.0.20 imports the mcp 1.x client API and passes FastAPI
# keyword arguments that FastAPI refuses from 0.130 on, hence the two upper bounds.
set -euo pipefail
MCPO_VERSION="0.0.20"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/mcpo-venv"
bin="$venv/bin/mcpo"
stamp="$venv/.mcpo-$MCPO_VERSION"
if [[ ! -x "$bin" || ! -f "$stamp" ]]; then
    mkdir -p "$root/target"
    [[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "mcpo==$MCPO_VERSION" "mcp<2" "fastapi<0.130" >&2
    rm -f "$venv"/.mcpo-*
    touch "$stamp"
fi
# Fail here, not in the tests, when it does not run on this machine.
"$bin" --help >/dev/null
echo "$bin"
