#!/usr/bin/env bash
# Call any tool over REST: ./call-tool.sh TOOL '{"json":"arguments"}'
# e.g. ./call-tool.sh vm_search '{"state":"RUNNING"}'
#      ./call-tool.sh vm_stop '{"vm":"edge-a/web-01"}'   -> preview + confirm_token
#      ./call-tool.sh vm_stop '{"vm":"edge-a/web-01","confirm_token":"..."}'
set -euo pipefail
HUB="${HUB:-http://127.0.0.1:8000}"
: "${HYPERFED_TOKEN:?set HYPERFED_TOKEN to the hub token}"
curl -fsS -X POST -H "Authorization: Bearer ${HYPERFED_TOKEN}" -H 'Content-Type: application/json' \
  "$HUB/v1/tools/$1" -d "${2:-{\}}"
echo
