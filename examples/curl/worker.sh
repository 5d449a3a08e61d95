#!/usr/bin/env bash
# A single worker (no hub) answers the same style of REST questions for its one cluster.
set -euo pipefail
W="${WORKER:-http://127.0.0.1:7777}"
: "${HYPERFED_TOKEN:?set HYPERFED_TOKEN to the worker token}"
auth=(-H "Authorization: Bearer ${HYPERFED_TOKEN}")
curl -fsS "$W/health"; echo
curl -fsS "${auth[@]}" "$W/v1/status"; echo
curl -fsS "${auth[@]}" "$W/v1/vms?state=SHUTOFF"; echo
