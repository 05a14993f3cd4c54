#!/usr/bin/env bash
# The tests, after the set-up they need (services, venv, the project). Extra args go to pytest.
# TEST_WORKERS: pytest-xdist processes (default 2; 0 runs them in this process, e.g. for -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${VENV:-.venv}/bin/python" -m pytest -q -n "${TEST_WORKERS:-2}" "$@"
