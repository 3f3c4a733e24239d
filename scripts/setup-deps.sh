#!/bin/sh
# Installs the Debian packages volley needs to build, test and benchmark,
# but only those that are missing. Safe to run again; does nothing when all
# are present. Called by `make` when pkg-config cannot find a library, and by
# `make test` / `make demo` before anything else.
set -eu

BUILD="build-essential pkg-config libssl-dev liblua5.4-dev libjansson-dev libcairo2-dev libnghttp2-dev zlib1g-dev libbrotli-dev libzstd-dev"
TEST="libcriterion-dev python3 python3-pytest python3-pytest-xdist python3-websocket python3-h2 nghttp2-client nginx h2o tinyproxy openssl curl chromium clang libclang-rt-14-dev libnss-wrapper lcov prometheus prometheus-pushgateway influxdb tmux slurm-wlm munge"
PEERS="wrk apache2-utils time bc liburing-dev"

want="$BUILD"
case "${1:-build}" in
    build) ;;
    test)  want="$BUILD $TEST" ;;
    bench) want="$BUILD $TEST $PEERS" ;;
    all)   want="$BUILD $TEST $PEERS" ;;
    *) echo "usage: $0 [build|test|bench|all]" >&2; exit 2 ;;
esac

# The offline validator of deploy/kubernetes (tests/k8s) comes from npm:
# kubernetes-models ships the Kubernetes API schema. nodejs and npm come from
# apt only when no npm is on PATH.
k8s_validator() {
    [ "${1:-build}" = build ] && return 0
    dir="$(cd "$(dirname "$0")/.." && pwd)/tests/k8s"
    [ -d "$dir/node_modules/kubernetes-models" ] && return 0
    if ! command -v npm >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2
    fi
    echo "setup-deps: npm ci in tests/k8s (Kubernetes schema validator)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --silent >&2)
}

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    k8s_validator "${1:-build}"
    exit 0
fi

echo "setup-deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "setup-deps: need root (or sudo) to install:$missing" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
# nginx must not start a system nginx on port 80 during install.
if [ -d /usr/sbin ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
k8s_validator "${1:-build}"
