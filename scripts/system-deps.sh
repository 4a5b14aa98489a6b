#!/usr/bin/env bash
# Debian packages classroomd needs. Usage: system-deps.sh [demo|test]
# Installed when missing and running as root; otherwise the exact command is printed and the run stops.
set -euo pipefail
mode=${1:-test}
need=()
have() { command -v "$1" >/dev/null 2>&1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ "$mode" = test ]; then
  have mosquitto || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
  have mosquitto_sub || need+=(mosquitto-clients)
  # systemd-analyze checks the service unit (tests/deploy); minimal images may lack systemd.
  have systemd-analyze || need+=(systemd)
  # The Debian package's build and install test (tests/deploy/test_deb.py).
  for pkg in dh-virtualenv debhelper dh-exec python3-dev build-essential fakeroot debootstrap lintian; do
    installed "$pkg" || need+=("$pkg")
  done
  # umockdev fakes /sys, /dev and udev for the discovery and input tests;
  # python3-gi drives its Testbed for hot-plug; chromium renders the lesson board.
  # postgresql: the central tests start their own throw-away server (initdb + postgres).
  for pkg in umockdev gir1.2-umockdev-1.0 python3-gi chromium fonts-dejavu-core openssl postgresql; do
    installed "$pkg" || need+=("$pkg")
  done
fi

[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && have apt-get; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "classroomd needs these Debian packages; install them as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${need[*]}" >&2
  exit 1
fi
