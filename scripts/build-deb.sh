#!/usr/bin/env bash
# Build the Debian package, everything inside (installs offline).
# Usage: build-deb.sh [--dist RELEASE] [version]      (version: default the one in packaging/debian/changelog)
#   without --dist: on this machine, for its release    -> build/deb/classroomd_<version>_amd64.deb
#   --dist bookworm|noble|jammy: in a root of that release made by debootstrap (kept in
#   build/chroot/RELEASE-build for the next run), with that release's Python and build tools
#                                                       -> build/deb-RELEASE/classroomd_<version>~RELEASE_amd64.deb
# A dh-virtualenv package is tied to its release's Python, so each release gets its own build.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=""
if [ "${1:-}" = --dist ]; then dist=${2:?--dist needs a release: bookworm, noble or jammy}; shift 2; fi
version=${1:-}

# The working tree as it is, without caches and local state, with debian/ beside it; $1: where.
copy_source() {
  rm -rf "$1" && mkdir -p "$1"
  tar -c --exclude=./.venv --exclude=./build --exclude=./.git --exclude='*.egg-info' --exclude=__pycache__ \
      --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache . | tar -x -C "$1"
  cp -r packaging/debian "$1/debian"
  if [ -n "$version" ]; then sed -i "1s/(.*)/($version)/" "$1/debian/changelog"; fi
}

if [ -z "$dist" ]; then
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
  copy_source "$out/src"
  # Its own pip cache: wheels pip built earlier for another Python (a pyenv one, say) must not end up
  # in the package, linked against that Python's paths.
  export PIP_CACHE_DIR=$PWD/build/pip-cache
  (cd "$out/src" && dpkg-buildpackage -us -uc -b -rfakeroot >../build.log 2>&1) || { tail -40 "$out/build.log"; exit 1; }
  ls "$out"/*.deb
  exit 0
fi

# --- in a root of the target release ---------------------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "build-deb --dist needs root (debootstrap, chroot)" >&2; exit 1; }
python=/usr/bin/python3
build_deps="build-essential,debhelper,dh-exec,dh-virtualenv,python3-dev,python3-venv,fakeroot,ca-certificates"
case "$dist" in
  bookworm)
    mirror=${CLASSROOMD_DEBIAN_MIRROR:-http://deb.debian.org/debian}; components=main; script=bookworm ;;
  noble)
    # Debian 12's debootstrap has no noble script; gutsy's is the one every Ubuntu release shares.
    mirror=${CLASSROOMD_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}; components=main,universe
    script=/usr/share/debootstrap/scripts/gutsy ;;
  jammy)
    # python3 is 3.10 there; the project needs 3.11, which only jammy-updates' universe has (python3.11,
    # 3.11.0~rc1): installed after debootstrap, which reads the release pocket only.
    mirror=${CLASSROOMD_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}; components=main,universe; script=jammy
    python=/usr/bin/python3.11 ;;
  *) echo "build-deb: unknown release $dist (bookworm, noble or jammy)" >&2; exit 2 ;;
esac
command -v debootstrap >/dev/null || { echo "build-deb --dist needs debootstrap" >&2; exit 1; }
root=build/chroot/$dist-build
if [ ! -x "$root/usr/bin/dpkg-buildpackage" ]; then
  rm -rf "$root.tmp"
  debootstrap --variant=minbase --components="$components" --include="$build_deps" "$dist" "$root.tmp" \
      "$mirror" "$script" >"build/chroot/$dist-build.log" 2>&1 \
    || { tail -20 "build/chroot/$dist-build.log"; exit 1; }
  if [ "$dist" = jammy ]; then
    echo "deb $mirror jammy-updates main universe" >"$root.tmp/etc/apt/sources.list.d/updates.list"
    cp /etc/resolv.conf "$root.tmp/etc/resolv.conf"
    chroot "$root.tmp" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends python3.11-dev python3.11-venv' \
        >>"build/chroot/$dist-build.log" 2>&1 || { tail -20 "build/chroot/$dist-build.log"; exit 1; }
  fi
  rm -rf "$root" && mv "$root.tmp" "$root"
fi
# pip fetches the dependencies while building: this machine's resolver, proxy and certificate
# authorities (a proxy that inspects TLS has its own), not the fresh root's.
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$root/etc/ssl/build-ca.crt"
proxies=()
for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  if [ -n "${!var:-}" ]; then proxies+=("$var=${!var}"); fi
done
copy_source "$root/build/src"
if [ "$dist" = jammy ]; then
  sed -i 's/python3 (>= 3.11), python3-dev, python3-venv/python3.11, python3.11-dev, python3.11-venv/' \
      "$root/build/src/debian/control"
fi
upstream=$(sed -n '1s/.*(\(.*\)).*/\1/p' "$root/build/src/debian/changelog")
sed -i "1s/(.*) [a-z]*;/($upstream~$dist) $dist;/" "$root/build/src/debian/changelog"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc"' EXIT
out=build/deb-$dist
mkdir -p "$out" && rm -f "$out"/*.deb "$root"/build/*.deb
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 PYTHON="$python" \
    PIP_CERT=/etc/ssl/build-ca.crt PIP_DEFAULT_TIMEOUT=180 "${proxies[@]}" \
    sh -c 'cd /build/src && dpkg-buildpackage -us -uc -b -rfakeroot' >"$out/build.log" 2>&1 \
  || { tail -40 "$out/build.log"; exit 1; }
cp "$root"/build/*.deb "$out/"
ls "$out"/*.deb
