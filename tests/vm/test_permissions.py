"""Scenario 5: the daemon as an unprivileged user, on device nodes the real udevd sets up: refused
with the readable reason before `classroomd udev install`, driving the device after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.vm.daemon import PYTHON, ROOT, GuestDaemon, mark, wait_new
from tests.vm.machine import Machine
from tests.vm.test_hotplug import TABLET_ID, TABLET_SERIAL

pytestmark = pytest.mark.timeout(600)

USER = "classroomd"
RULES = "/etc/udev/rules.d/70-classroomd.rules"


@pytest.fixture
def daemon_user(vm: Machine) -> Iterator[int]:
    vm.sh(f"getent group {USER} >/dev/null || groupadd --system {USER}; "
          f"id -u {USER} >/dev/null 2>&1 || useradd --system --gid {USER} --home-dir /nonexistent "
          f"--shell /usr/sbin/nologin {USER}")
    uid = int(vm.run("id", "-u", USER).stdout)
    # The venv's interpreter may live under the host's /root (pyenv), and the checkout under a 0700
    # folder (mktemp -d): open the way to both in the guest's overlay only, the host is untouched.
    for start in (f"$(dirname $(readlink -f {PYTHON}))", f"$(dirname {PYTHON})"):
        vm.sh(f"d={start}; " 'while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done')
    try:
        yield uid
    finally:
        vm.unplug_all()
        vm.sh(f"rm -f {RULES} && udevadm control --reload-rules && userdel {USER}; groupdel {USER}; true")


def node_of(vm: Machine) -> str:
    return vm.sh("for e in /dev/input/event*; do "
                 "udevadm info --query=property \"$e\" | grep -q '^ID_VENDOR_ID=056a' && echo $e; done; true"
                 ).stdout.split()[0]


def test_unprivileged_daemon_refused_then_served_after_udev_install(daemon_user: int, vm: Machine,
                                                                    guest_daemon: GuestDaemon) -> None:
    uid = daemon_user
    vm.plug("usb-wacom-tablet", "wacom", serial=TABLET_SERIAL)
    vm.wait_until(lambda: bool(vm.sh("ls /dev/input/by-id/*Wacom* 2>/dev/null; true").stdout.strip()),
                  60, "the tablet's input node")
    probe = guest_daemon.start(user=uid, extra_env={"HOME": guest_daemon.state_dir})
    # The stock rules leave the node to root: the daemon says why it cannot open it, and what to do.
    refused = probe.wait_topic(f"{ROOT}/{TABLET_ID}", 120, lambda s: s.get("status") == "fault")
    assert refused["availability"] == "offline"
    assert "no permission" in refused["reason"] and "udev" in refused["reason"], refused["reason"]

    before = mark(probe)
    installed = vm.run(PYTHON, "-m", "classroomd", "udev", "install", timeout=180)
    assert RULES in installed.stdout + installed.stderr
    vm.run("udevadm", "settle")
    mode = vm.run("stat", "-c", "%G %a", node_of(vm)).stdout.split()
    assert mode == [USER, "660"], mode

    ready = wait_new(probe, f"{ROOT}/{TABLET_ID}", 120, lambda s: s.get("status") == "ready", before)
    assert ready["availability"] == "online"
