#!/usr/bin/env bash
# Installs Prometheus and promtool from Debian's `prometheus` package (pinned to the 2.42
# release of Debian 12) when they are missing, and prints their paths: promtool on the first
# line, prometheus on the second. Idempotent: a no-op when a 2.x promtool is already there.
# Used by .ci/run (the metrics tests read HYPERFED_PROMTOOL and HYPERFED_PROMETHEUS).
set -euo pipefail
PROMETHEUS_UPSTREAM="2.42.0"
promtool="/usr/bin/promtool"
prometheus="/usr/bin/prometheus"
if [[ ! -x "$promtool" || ! -x "$prometheus" ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    candidate="$(apt-cache policy prometheus | awk '/Candidate:/ {print $2}')"
    case "$candidate" in
        "$PROMETHEUS_UPSTREAM"+*) ;;
        *) echo "install-prometheus.sh: expected prometheus $PROMETHEUS_UPSTREAM, the archive offers '$candidate'" >&2; exit 1 ;;
    esac
    # The package's service is not started (no init system here); the tests run their own.
    apt-get install -y -qq --no-install-recommends "prometheus=$candidate" >&2
fi
# Fail here, not in the tests, when the binaries do not run on this machine.
version="$("$promtool" --version 2>&1 | head -n1)"
case "$version" in
    *"version 2."*) ;;
    *) echo "install-prometheus.sh: unexpected promtool version: $version" >&2; exit 1 ;;
esac
"$prometheus" --version >/dev/null 2>&1 || { echo "install-prometheus.sh: prometheus does not run" >&2; exit 1; }
echo "$promtool"
echo "$prometheus"
