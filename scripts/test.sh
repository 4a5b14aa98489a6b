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
# Two workers: most tests wait on brokers, browsers and child processes rather than compute, so two
# run in about the time of one on two cores; each test module stays on one worker (tests/conftest.py).
# CLASSROOMD_TEST_WORKERS=0 runs everything in this process (easier to debug).
workers=${CLASSROOMD_TEST_WORKERS:-2}
if [ "$workers" = 0 ]; then
  exec .venv/bin/python -m pytest -q -ra --strict-skips "$@"
fi
exec .venv/bin/python -m pytest -q -ra --strict-skips -n "$workers" --dist loadscope "$@"
