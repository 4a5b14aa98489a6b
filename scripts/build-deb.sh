#!/usr/bin/env bash
# Build the Debian package: build/deb/classroomd_<version>_amd64.deb, everything inside (installs offline).
# Usage: build-deb.sh [version]   (default: the version in packaging/debian/changelog)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in dh-virtualenv debhelper dh-exec python3-dev python3-venv build-essential fakeroot; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "build-deb needs: apt-get install ${need[*]}" >&2; exit 1
  fi
fi
out=build/deb
rm -rf "$out/src" && mkdir -p "$out/src"
# The working tree as it is, without caches and local state.
tar -c --exclude=./.venv --exclude=./build --exclude=./.git --exclude='*.egg-info' --exclude=__pycache__ \
    --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache . | tar -x -C "$out/src"
cp -r packaging/debian "$out/src/debian"
if [ -n "${1:-}" ]; then
  sed -i "1s/(.*)/($1)/" "$out/src/debian/changelog"
fi
(cd "$out/src" && dpkg-buildpackage -us -uc -b -rfakeroot >../build.log 2>&1) || { tail -40 "$out/build.log"; exit 1; }
ls "$out"/*.deb
