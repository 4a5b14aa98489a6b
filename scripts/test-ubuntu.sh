#!/usr/bin/env bash
# The Debian package on Ubuntu: built in a root of each release (scripts/build-deb.sh --dist), then
# installed, upgraded and purged in a fresh root of the same release (tests/deploy/test_deb.py),
# and checked with lintian's Ubuntu profile. Outside the default test run: it takes longer than CI
# should wait (docs/deployment.md has the measured times). Needs root, debootstrap and lintian.
# Usage: test-ubuntu.sh [noble] [jammy]      (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(noble jammy)
for release in "${releases[@]}"; do
  echo "== $release"
  start=$(date +%s)
  CLASSROOMD_DEB_DIST=$release .venv/bin/python -m pytest -q -p no:cacheprovider tests/deploy/test_deb.py
  echo "== $release: $(( $(date +%s) - start )) s"
done
