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
  # tests/vm boots a QEMU guest on Debian's kernel with the host's root shared over 9p: the
  # kernel's real drivers (vivid, uinput, ftdi_sio, wacom) and the host's own udevd and rules;
  # kmod gives the guest modprobe.
  for pkg in qemu-system-x86 busybox-static udev kmod; do
    installed "$pkg" || need+=("$pkg")
  done
  if ! installed linux-image-amd64; then
    # The guest boots the busybox initramfs tests/vm builds, so where no initramfs tool is installed
    # tiny-initramfs satisfies the kernel package instead of initramfs-tools; a machine that has
    # one keeps it (tiny-initramfs conflicts with initramfs-tools and dracut).
    installed initramfs-tools || installed dracut || installed tiny-initramfs || need+=(tiny-initramfs)
    need+=(linux-image-amd64)
  fi
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
