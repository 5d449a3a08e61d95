#!/usr/bin/env bash
# Call any tool over REST, on a hub or a worker (both answer the same way):
#   ./call-tool.sh TOOL ['{"json":"arguments"}']
# e.g. ./call-tool.sh vm_search '{"state":"RUNNING"}'
#      ./call-tool.sh vm_stop '{"vm":"edge-a/web-01"}'   -> preview + confirm_token
#      ./call-tool.sh vm_stop '{"vm":"edge-a/web-01","confirm_token":"..."}'
# Prints the result object. On a refused or failed call it prints the server's
# {"error": "..."} body and exits non-zero (HTTP 4xx/5xx), so scripts can test $?.
# HUB (default http://127.0.0.1:8000) may point at a worker instead, e.g. http://127.0.0.1:7777.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 TOOL ['{\"json\":\"arguments\"}']   (GET \$HUB/v1/tools lists the tools)" >&2
  exit 2
fi
HUB="${HUB:-http://127.0.0.1:8000}"
: "${HYPERFED_TOKEN:?set HYPERFED_TOKEN to the hub (or worker) token}"
rc=0
curl -sS --fail-with-body -X POST -H "Authorization: Bearer ${HYPERFED_TOKEN}" \
  -H 'Content-Type: application/json' "$HUB/v1/tools/$1" -d "${2:-{\}}" || rc=$?
echo
exit "$rc"
