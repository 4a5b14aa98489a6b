#!/usr/bin/env bash
# Create .venv and install classroomd into it. Usage: bootstrap.sh [demo|test]
#   demo: only what the daemon needs;  test: plus Mosquitto, umockdev, Chromium and the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
PYTHON=${PYTHON:-python3}

bash scripts/system-deps.sh "$mode"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.installed-$mode
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  if [ "$mode" = test ]; then extra='[test]'; else extra=''; fi
  echo "installing classroomd$extra into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extra"
  touch "$stamp"
fi
