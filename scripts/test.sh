#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian 12 machine:
# system packages, virtualenv, lint, type check, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
bash scripts/typecheck.sh
echo "== pytest"
exec .venv/bin/python -m pytest -q -ra --strict-skips "$@"
