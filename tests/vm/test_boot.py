"""The guest itself: it boots on the host's root, runs the host's udevd, writes back to the host,
and the real daemon in it reaches the host's broker."""

from __future__ import annotations

import pytest

from tests.vm.daemon import ROOT, GuestDaemon
from tests.vm.machine import GUEST_OUT, Machine

pytestmark = pytest.mark.timeout(600)


def test_guest_runs_udevd_and_writes_to_the_results_share(vm: Machine) -> None:
    assert vm.run("pgrep", "-x", "systemd-udevd").stdout.strip()
    # The host's rules and hwdb are the guest's: udev names the input nodes QEMU's machine has.
    vm.sh(f"udevadm info --export-db > {GUEST_OUT}/udev-db.txt")
    db = (vm.out / "udev-db.txt").read_text()
    assert "E: ID_INPUT=1" in db
    assert vm.run("uname", "-r").stdout.strip() == vm.images.release


def test_the_daemon_in_the_guest_comes_online_on_the_hosts_broker(guest_daemon: GuestDaemon) -> None:
    probe = guest_daemon.start()
    inventory = probe.wait_topic(f"{ROOT}/devices", 60)
    assert isinstance(inventory, list)
