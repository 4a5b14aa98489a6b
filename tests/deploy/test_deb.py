"""The Debian package, installed with dpkg into a fresh root of its release made by debootstrap.

Slow (it builds the package and a root file system), so it builds each once per run and every
check below reads the same installation. The release is Debian 12 (built on this machine); the
Ubuntu ones (`CLASSROOMD_DEB_DIST=noble` or `jammy`, built in a root of that release) run from
scripts/test-ubuntu.sh, outside the default run, because they take longer than CI should wait.
The debootstrapped base root is kept in build/deb-test/base-RELEASE and copied for each run: what
the package is installed into is still a root no package of ours has touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "deb-test"
DIST = os.environ.get("CLASSROOMD_DEB_DIST", "bookworm")
DEBIAN_MIRROR = os.environ.get("CLASSROOMD_DEBIAN_MIRROR", "http://deb.debian.org/debian")
UBUNTU_MIRROR = os.environ.get("CLASSROOMD_UBUNTU_MIRROR", "http://archive.ubuntu.com/ubuntu")
# What a classroom PC has: the release's Python, time zones and the tools maintainer scripts use;
# nothing of ours. (jammy's minimal root has no tzdata; every installed Ubuntu has.)
BASE = "python3,adduser,udev,systemd,tzdata"
# release: (mirror, debootstrap script); debootstrap's gutsy script serves every Ubuntu release.
RELEASES = {
    "bookworm": (DEBIAN_MIRROR, "bookworm"),
    "noble": (UBUNTU_MIRROR, "/usr/share/debootstrap/scripts/gutsy"),
    "jammy": (UBUNTU_MIRROR, "jammy"),
}

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and chroot need root"),
              pytest.mark.timeout(3600)]


def run(*args: str, timeout: float = 900, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done  # type: ignore[no-any-return]


def in_root(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return run("chroot", str(root), *args, timeout=timeout,
               env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"})


@pytest.fixture(scope="module")
def package() -> Path:
    if DIST == "bookworm":
        run("bash", str(ROOT / "scripts" / "build-deb.sh"), timeout=1800)
        (deb,) = (ROOT / "build" / "deb").glob("classroomd_*_amd64.deb")
    else:
        run("bash", str(ROOT / "scripts" / "build-deb.sh"), "--dist", DIST, timeout=3600)
        (deb,) = (ROOT / "build" / f"deb-{DIST}").glob("classroomd_*_amd64.deb")
    return deb


def _base_root() -> Path:
    base, made_with = BUILD / f"base-{DIST}", BUILD / f"base-{DIST}.packages"
    # The cached root is reused only if it was made with the same packages.
    if base.is_dir() and made_with.is_file() and made_with.read_text() == BASE:
        return base
    shutil.rmtree(base, ignore_errors=True)
    tmp = BUILD / f"base-{DIST}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    BUILD.mkdir(parents=True, exist_ok=True)
    mirror, script = RELEASES[DIST]
    components = "main" if DIST == "bookworm" else "main,universe"
    run("debootstrap", "--variant=minbase", f"--components={components}", f"--include={BASE}", DIST, str(tmp),
        mirror, script, timeout=1800)
    if DIST == "jammy":
        # Its python3 is 3.10; the package runs on python3.11, which jammy-updates' universe has.
        (tmp / "etc/apt/sources.list.d/updates.list").write_text(f"deb {UBUNTU_MIRROR} jammy-updates main universe\n")
        shutil.copy("/etc/resolv.conf", tmp / "etc/resolv.conf")
        in_root(tmp, "apt-get", "update", "-qq")
        in_root(tmp, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "python3.11")
    tmp.rename(base)
    made_with.write_text(BASE)
    return base


@pytest.fixture(scope="module")
def debian_root(package: Path) -> Iterator[Path]:
    root = BUILD / f"root-{DIST}"
    if root.exists():
        shutil.rmtree(root)
    run("cp", "-a", str(_base_root()), str(root))
    shutil.copy(package, root / "tmp" / package.name)
    in_root(root, "dpkg", "-i", f"/tmp/{package.name}")
    yield root


def test_the_package_installs_a_user_files_and_a_working_command(debian_root: Path) -> None:
    groups = in_root(debian_root, "id", "-nG", "classroomd").stdout.split()
    assert {"classroomd", "dialout", "video", "input", "plugdev"} <= set(groups)
    for path in ("lib/systemd/system/classroomd.service", "lib/udev/rules.d/70-classroomd.rules",
                 "etc/classroomd/classroomd.toml", "opt/classroomd/bin/classroomd", "var/lib/classroomd"):
        assert (debian_root / path).exists(), path
    assert (debian_root / "etc/systemd/system/multi-user.target.wants/classroomd.service").is_symlink()
    assert "classroomd" in in_root(debian_root, "classroomd", "--version").stdout
    checked = in_root(debian_root, "classroomd", "config", "check", "/etc/classroomd/classroomd.toml")
    assert "OK" in checked.stdout


def test_the_central_unit_is_installed_with_its_user_and_config_but_not_enabled(debian_root: Path) -> None:
    assert (debian_root / "lib/systemd/system/classroomd-central.service").is_file()
    # A classroom PC runs the agent; a district server enables central itself.
    assert not list((debian_root / "etc/systemd/system").rglob("classroomd-central.service"))
    # Its own user, in no device group: central reaches no hardware.
    assert in_root(debian_root, "id", "-nG", "classroomd-central").stdout.split() == ["classroomd-central"]
    state = in_root(debian_root, "stat", "-c", "%U %a", "/var/lib/classroomd-central").stdout.split()
    assert state == ["classroomd-central", "700"]
    conffiles = in_root(debian_root, "dpkg-query", "-W", "-f", "${Conffiles}", "classroomd").stdout
    assert "/etc/classroomd/central.toml" in conffiles and "/etc/classroomd/classroomd.toml" in conffiles
    checked = in_root(debian_root, "classroomd", "central", "config", "check", "/etc/classroomd/central.toml")
    assert checked.stdout.startswith("/etc/classroomd/central.toml: OK: central")
    # systemd does not run in the root, so the maintainer scripts are read: an upgrade restarts a running
    # central (and never stops it for good), removing the package stops it.
    info = debian_root / "var/lib/dpkg/info"
    scripts = {name: (info / f"classroomd.{name}").read_text() if (info / f"classroomd.{name}").exists() else ""
               for name in ("preinst", "postinst", "prerm")}
    assert "classroomd-central" not in scripts["preinst"]
    assert "deb-systemd-invoke try-restart 'classroomd-central.service'" in scripts["postinst"]
    assert "deb-systemd-invoke stop classroomd-central.service" in scripts["prerm"]


REPORT_UNIT = """[Unit]
Description=What the test reads: classroomd's state under a real systemd, then power off
After=classroomd.service

[Service]
Type=oneshot
TimeoutStartSec=infinity
ExecStart=/bin/sh /usr/local/sbin/vm-report
"""

REPORT_SCRIPT = """#!/bin/sh
out=/mnt/vm-out
for i in $(seq 1 240); do
  [ "$(systemctl show -p ActiveState --value classroomd)" = active ] && break
  sleep 1
done
sleep 40  # WatchdogSec=30: at least one ping after READY
systemctl show classroomd -p ActiveState -p SubState -p StatusText -p WatchdogTimestampMonotonic \\
  -p NRestarts -p Result > $out/report.txt
stat -c %U "/proc/$(systemctl show -p MainPID --value classroomd)" > $out/user.txt
journalctl -u classroomd --no-pager -o cat > $out/journal.txt
systemctl poweroff
"""


def test_the_installed_service_runs_confined_and_watched_under_systemd_in_a_guest(debian_root: Path) -> None:
    """The package's unit, started by a real systemd as PID 1 in a QEMU guest booted from the installed root."""
    if DIST != "bookworm":
        pytest.skip("the guest kernel is the build machine's Debian one")
    from tests.vm.images import build
    from tests.vm.systemd_guest import boot_root

    root = BUILD / "vm-root"
    if root.exists():
        shutil.rmtree(root)
    run("cp", "-a", str(debian_root), str(root))
    # The classroom's broker is the daemon's own (embedded): the guest needs no network.
    (root / "etc/classroomd/classroomd.toml").write_text(
        'site = "kz-vm"\nroom = "systemd"\n\n[mqtt]\nurl = "embedded://127.0.0.1:1883"\n\n'
        '[agent]\nmdns = false\n\n[http]\nlisten = "127.0.0.1:8080"\n')
    (root / "etc/systemd/system/vm-report.service").write_text(REPORT_UNIT)
    (root / "usr/local/sbin").mkdir(parents=True, exist_ok=True)
    (root / "usr/local/sbin/vm-report").write_text(REPORT_SCRIPT)
    (root / "etc/systemd/system/multi-user.target.wants/vm-report.service").symlink_to(
        "/etc/systemd/system/vm-report.service")
    (root / "mnt/vm-out").mkdir(parents=True, exist_ok=True)
    out, console = BUILD / "vm-out", BUILD / "vm-console.log"
    if out.exists():
        shutil.rmtree(out)
    boot_root(build(), root, out, console)
    assert (out / "report.txt").exists(), console.read_text(errors="replace")[-4000:]
    report = dict(line.split("=", 1) for line in (out / "report.txt").read_text().splitlines() if "=" in line)
    journal = (out / "journal.txt").read_text(errors="replace")
    # Type=notify: active only after READY; STATUS= says what the daemon does; the loop pings the watchdog.
    assert (report["ActiveState"], report["SubState"]) == ("active", "running"), (report, journal[-3000:])
    assert "broker connected" in report["StatusText"], report
    assert int(report["WatchdogTimestampMonotonic"]) > 0, report
    assert report["NRestarts"] == "0", (report, journal[-3000:])
    assert (out / "user.txt").read_text().strip() == "classroomd"


def test_lintian_finds_nothing_unexplained(package: Path) -> None:
    # Every override carries its reason: a comment opens the block of overrides it explains.
    explained = False
    for line in (ROOT / "packaging/debian/classroomd.lintian-overrides").read_text().splitlines():
        explained = line.startswith("#") or (explained and bool(line))
        assert explained or not line, f"override without a reason: {line}"
    profile = ["--profile", "ubuntu"] if DIST in ("noble", "jammy") else []
    checked = subprocess.run(["lintian", *profile, "--tag-display-limit", "0", "--fail-on", "error,warning",
                              str(package)], capture_output=True, text=True, timeout=900)
    complaints = [line for line in checked.stdout.splitlines() if re.match(r"[EW]: ", line)]
    assert checked.returncode == 0 and not complaints, checked.stdout[-5000:] + checked.stderr[-2000:]


def test_an_upgrade_keeps_the_edited_config_and_the_outbox(debian_root: Path, package: Path, tmp_path: Path) -> None:
    config = debian_root / "etc/classroomd/classroomd.toml"
    config.write_text(config.read_text() + "\n# edited by the engineer\n")
    outbox = debian_root / "var/lib/classroomd/outbox.sqlite3"
    outbox.write_bytes(b"queued while the link was down")
    # The next build: the same contents under a higher version.
    unpacked = tmp_path / "next"
    run("dpkg-deb", "-R", str(package), str(unpacked))
    control = unpacked / "DEBIAN" / "control"
    version = re.search(r"^Version: (.+)$", control.read_text(), re.M).group(1)  # type: ignore[union-attr]
    control.write_text(control.read_text().replace(f"Version: {version}", f"Version: {version}+next1"))
    run("dpkg-deb", "-Znone", "-b", str(unpacked), str(debian_root / "tmp" / "next.deb"))
    in_root(debian_root, "dpkg", "-i", "/tmp/next.deb")
    assert f"{version}+next1" in in_root(debian_root, "dpkg-query", "-W", "classroomd").stdout
    assert config.read_text().endswith("# edited by the engineer\n")
    assert outbox.read_bytes() == b"queued while the link was down"
    # Removing keeps the data; purging removes the agent's.
    in_root(debian_root, "dpkg", "-r", "classroomd")
    assert outbox.exists() and config.exists()
    database = debian_root / "var/lib/classroomd-central/central.sqlite3"
    database.write_bytes(b"the district's history")
    purged = in_root(debian_root, "dpkg", "-P", "classroomd")
    assert not outbox.exists() and not config.exists()
    # Central's database is the district's history: a purge keeps it, with its owner, and says how to delete it.
    assert database.read_bytes() == b"the district's history"
    assert "kept /var/lib/classroomd-central" in purged.stderr
    in_root(debian_root, "id", "classroomd-central")


def test_a_purge_removes_an_unused_central_state_dir(debian_root: Path, package: Path) -> None:
    shutil.rmtree(debian_root / "var/lib/classroomd-central")
    in_root(debian_root, "dpkg", "-i", f"/tmp/{package.name}")
    in_root(debian_root, "dpkg", "-P", "classroomd")
    assert not (debian_root / "var/lib/classroomd-central").exists()
    assert in_root(debian_root, "getent", "passwd").stdout.count("classroomd") == 0
