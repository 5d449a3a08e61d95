#!/usr/bin/env bash
# Installs the pinned validators the operator-facing tests use, from PyPI, into
# target/validators-venv, and prints two lines: the OpenAPI validator's path, then the
# Kubernetes manifest validator's path, then the venv's Python (with the `dockerfile` parser).
# Idempotent: a no-op when the pins are already there.
# Used by .ci/run and by developers before `cargo test`.
#   openapi-spec-validator: validates /v1/openapi.json (OpenAPI 3.1) of hub and worker.
#   kubernetes-validate: validates configs/kubernetes/*.yaml against bundled (offline) schemas.
#   dockerfile: BuildKit's own Containerfile parser (Go, in the wheel) for the Containerfile test.
set -euo pipefail
OPENAPI_SPEC_VALIDATOR_VERSION="0.9.0"
KUBERNETES_VALIDATE_VERSION="1.37.0"
DOCKERFILE_VERSION="3.4.0"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/validators-venv"
stamp="$venv/.pins-$OPENAPI_SPEC_VALIDATOR_VERSION-$KUBERNETES_VALIDATE_VERSION-$DOCKERFILE_VERSION"
if [[ ! -f "$stamp" ]]; then
    mkdir -p "$root/target"
    [[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION" \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
        "dockerfile==$DOCKERFILE_VERSION" >&2
    rm -f "$venv"/.pins-*
    touch "$stamp"
fi
# Fail here, not in the tests, when a tool does not run on this machine.
"$venv/bin/openapi-spec-validator" --help >/dev/null
"$venv/bin/kubernetes-validate" --version >/dev/null
"$venv/bin/python" -c "import dockerfile" >&2
echo "$venv/bin/openapi-spec-validator"
echo "$venv/bin/kubernetes-validate"
echo "$venv/bin/python"
