#!/usr/bin/env bash
# Everything the tests need on a fresh machine (services, venv, the project), then the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -e ".[dev]"
exec .venv/bin/python -m pytest -q "$@"
