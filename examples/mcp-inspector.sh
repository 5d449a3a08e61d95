#!/usr/bin/env bash
# Open MCP Inspector against a HyperFed hub (or worker) over streamable HTTP.
# In the Inspector UI choose "Streamable HTTP", URL http://127.0.0.1:8000/mcp, and add the header
# "Authorization: Bearer $HYPERFED_TOKEN". The CLI mode below lists the tools without a browser.
set -euo pipefail
URL="${1:-http://127.0.0.1:8000/mcp}"
: "${HYPERFED_TOKEN:?set HYPERFED_TOKEN to the hub token}"
npx -y @modelcontextprotocol/inspector --cli "$URL" --transport http \
  --header "Authorization: Bearer ${HYPERFED_TOKEN}" --method tools/list
