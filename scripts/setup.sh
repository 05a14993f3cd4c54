#!/usr/bin/env bash
# Everything Ferry needs on a fresh machine: Redis and Postgres up, a venv with the project.
# VENV picks the venv's folder (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
venv="${VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
bash scripts/browser.sh
