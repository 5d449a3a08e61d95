#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver (for the fleet page's browser test) when
# chromedriver is missing, and prints chromedriver's path. Idempotent: a no-op when both are
# there. The browser comes from the distribution, never downloaded at test time.
set -euo pipefail
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
fi
driver="$(command -v chromedriver)"
# Fail here, not in the tests, when the driver does not run on this machine.
version="$("$driver" --version)"
case "$version" in
    ChromeDriver*) ;;
    *) echo "install-chromium.sh: unexpected chromedriver version: $version" >&2; exit 1 ;;
esac
echo "$driver"
