#!/usr/bin/env bash
# Create .venv (Python 3.11) and install propensity with its dev and redis extras. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "error: propensity needs Python 3.11; set PYTHON=/path/to/python3.11" >&2
    exit 2
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
# uv resolves and installs the same versions as pip, in seconds instead of a minute and a half. It compiles the
# bytecode now, as pip does: without it every process (each Ray worker too) compiles Feast, Ray and XGBoost from
# source when PYTHONDONTWRITEBYTECODE is set, 5-10 s of CPU per process start.
.venv/bin/python -m pip install --quiet "uv>=0.13,<0.14"
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -e ".[dev,redis,s3]"
