#!/usr/bin/env bash
# Everyday fleet questions answered with cURL against a HyperFed hub's REST API.
set -euo pipefail
HUB="${HUB:-http://127.0.0.1:8000}"
: "${HYPERFED_TOKEN:?set HYPERFED_TOKEN to the hub token}"
auth=(-H "Authorization: Bearer ${HYPERFED_TOKEN}")

echo "# health (no token needed)";           curl -fsS "$HUB/health"; echo
echo "# joined clusters";                    curl -fsS "${auth[@]}" "$HUB/v1/clusters"; echo
echo "# fleet status";                       curl -fsS "${auth[@]}" "$HUB/v1/status"; echo
echo "# running VMs whose name contains db"; curl -fsS "${auth[@]}" "$HUB/v1/vms?state=RUNNING&name=db"; echo
echo "# tools";                              curl -fsS "${auth[@]}" "$HUB/v1/tools" | head -c 2000; echo
