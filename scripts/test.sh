#!/usr/bin/env bash
# Set up, then run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Redis online store is tested against a real redis-server (the tests start their own, on loopback).
if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
        echo "error: the tests need redis-server; install it (Debian: apt-get install redis-server)" >&2
        exit 2
    fi
fi
.venv/bin/pytest "$@"
