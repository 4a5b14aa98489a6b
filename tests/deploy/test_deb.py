"""The Debian package, installed with dpkg into a fresh Debian 12 root made by debootstrap.

Slow (it builds the package and a root file system), so it builds each once per run and every
check below reads the same installation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "deb-test"
MIRROR = os.environ.get("CLASSROOMD_DEBIAN_MIRROR", "http://deb.debian.org/debian")

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap and chroot need root"),
              pytest.mark.timeout(3600)]


def run(*args: str, timeout: float = 900, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done  # type: ignore[no-any-return]


def in_root(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run("chroot", str(root), *args, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})


@pytest.fixture(scope="module")
def package() -> Path:
    run("bash", str(ROOT / "scripts" / "build-deb.sh"), timeout=1800)
    (deb,) = (ROOT / "build" / "deb").glob("classroomd_*_amd64.deb")
    return deb


@pytest.fixture(scope="module")
def debian_root(package: Path) -> Iterator[Path]:
    root = BUILD / "root"
    if root.exists():
        shutil.rmtree(root)
    BUILD.mkdir(parents=True, exist_ok=True)
    # What a classroom PC has: Python 3.11 and the tools maintainer scripts use; nothing of ours.
    run("debootstrap", "--variant=minbase", "--include=python3,adduser,udev,systemd", "bookworm", str(root),
        MIRROR, timeout=1800)
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


def test_an_upgrade_keeps_the_edited_config_and_the_outbox(debian_root: Path, package: Path, tmp_path: Path) -> None:
    config = debian_root / "etc/classroomd/classroomd.toml"
    config.write_text(config.read_text() + "\n# edited by the engineer\n")
    outbox = debian_root / "var/lib/classroomd/outbox.sqlite3"
    outbox.write_bytes(b"queued while the link was down")
    # The next build: the same contents under a higher version.
    unpacked = tmp_path / "next"
    run("dpkg-deb", "-R", str(package), str(unpacked))
    control = unpacked / "DEBIAN" / "control"
    control.write_text(control.read_text().replace("Version: 0.1.0", "Version: 0.1.0+next1"))
    run("dpkg-deb", "-Znone", "-b", str(unpacked), str(debian_root / "tmp" / "next.deb"))
    in_root(debian_root, "dpkg", "-i", "/tmp/next.deb")
    assert "0.1.0+next1" in in_root(debian_root, "dpkg-query", "-W", "classroomd").stdout
    assert config.read_text().endswith("# edited by the engineer\n")
    assert outbox.read_bytes() == b"queued while the link was down"
    # Removing keeps the data; purging removes it.
    in_root(debian_root, "dpkg", "-r", "classroomd")
    assert outbox.exists() and config.exists()
    in_root(debian_root, "dpkg", "-P", "classroomd")
    assert not outbox.exists()
