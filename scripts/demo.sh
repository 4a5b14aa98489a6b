#!/usr/bin/env bash
# A simulated classroom (one device of every kind) on an embedded broker.
# Extra arguments go to `classroomd run`, e.g. --broker mqtt://127.0.0.1:1883
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh demo
exec .venv/bin/classroomd run --demo "$@"
