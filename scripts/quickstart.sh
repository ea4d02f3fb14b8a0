#!/usr/bin/env bash
# Quick start: set up, then run the whole pipeline on the embedded defaults into data/.
# Extra arguments go to `propensity run` (e.g. --customers 50000, --source completejourney).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/propensity run "$@"
