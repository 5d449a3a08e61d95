#!/usr/bin/env bash
# Runs the official MCP conformance suite against a worker and a hub started on loopback in
# their no-auth mode (no --token: they then refuse anything but 127.0.0.1). Installs Node 22 and
# the suite from the npm registry into target/conformance on first use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${HYPERFED_BIN:-$root/target/debug/hyperfed}"
tools="$root/target/conformance"
suite_version="0.1.16"
if [ ! -x "$tools/node_modules/.bin/conformance" ]; then
  mkdir -p "$tools"
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error \
     "node@22" "@modelcontextprotocol/conformance@$suite_version" >/dev/null)
fi
export PATH="$tools/node_modules/.bin:$PATH"
echo "conformance $suite_version on node $(node --version)"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_health() {
  for _ in $(seq 1 200); do curl -fsS "$1/health" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "no answer from $1/health" >&2; return 1
}

run_suite() { # name url
  echo "== conformance: $1 ($2)"
  local out="$root/target/conformance/results-$1"
  rm -rf "$out"
  (cd "$tools" && conformance server --url "$2" --expected-failures "$root/.ci/conformance-baseline.yml" -o "$out") \
    > "$tools/$1.log" 2>&1 || { tail -60 "$tools/$1.log"; echo "conformance regression against the $1" >&2; return 1; }
  sed -n '/=== SUMMARY ===/,$p' "$tools/$1.log"
}

wport=$(free_port)
"$bin" worker --mock edge --seed 1 --listen "127.0.0.1:$wport" 2>"$tools/worker.err" &
pids+=($!)
hport=$(free_port)
HYPERFED_SECRET=conformance-secret "$bin" hub --listen "127.0.0.1:$hport" --data "$tools/hub-data" 2>"$tools/hub.err" &
pids+=($!)
jport=$(free_port)
HYPERFED_SECRET=conformance-secret "$bin" worker --mock datacenter --seed 7 --listen "127.0.0.1:$jport" \
  --join "http://127.0.0.1:$hport" 2>"$tools/joined-worker.err" &
pids+=($!)
wait_health "http://127.0.0.1:$wport"
wait_health "http://127.0.0.1:$hport"
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$hport/v1/clusters" 2>/dev/null | grep -q '"up"' && break; sleep 0.1
done

run_suite worker "http://127.0.0.1:$wport/mcp"
run_suite hub "http://127.0.0.1:$hport/mcp"
echo "conformance: no regressions"
