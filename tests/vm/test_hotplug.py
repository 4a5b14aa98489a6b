"""Scenario 1: devices plugged and unplugged from QEMU's monitor reach the daemon through the real
kernel and udevd, and show on MQTT classified as the catalog and the config say."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.vm.daemon import PYTHON, ROOT, GuestDaemon, device, mark, wait_new
from tests.vm.images import BUILD
from tests.vm.machine import GUEST_OUT, Machine
from tests.vm.serial_peers import Listener, MarlinBoard, attach, detach, plug_bridge

pytestmark = pytest.mark.timeout(600)

PRINTER_SERIAL = "PRN0001"
TABLET_SERIAL = "WACOM01"
TABLET_ID = "tablet-056a-0000-wacom01"
#: The config declares the FTDI bridge with this serial number a printer; the other stays a bridge.
DECLARED = f'''
[[devices]]
id = "vm-printer"
kind = "printer"
name = "Printer behind an FTDI cable"
match = {{ vid = "0403", serial = "{PRINTER_SERIAL}" }}
reset_wait_s = 2.0
timeout_s = 5.0
'''


@pytest.fixture
def unplug_after(vm: Machine) -> Iterator[Machine]:
    yield vm
    vm.unplug_all()


def test_a_wacom_tablet_plugged_and_unplugged(unplug_after: Machine, guest_daemon: GuestDaemon) -> None:
    vm = unplug_after
    probe = guest_daemon.start()
    probe.wait_topic(f"{ROOT}/devices", 60)
    latencies = []
    for _cycle in range(2):
        before = mark(probe)
        sent = time.monotonic()
        # A serial number of its own: QEMU's default one names the USB port, which changes on a replug.
        vm.plug("usb-wacom-tablet", "wacom", serial=TABLET_SERIAL)
        inventory = wait_new(probe, f"{ROOT}/devices", 60,
                             lambda inv: (device(inv, id=TABLET_ID) or {}).get("availability") == "online", before)
        latencies.append(time.monotonic() - sent)
        tablet = device(inventory, id=TABLET_ID)
        # QEMU's PenPartner (056a:0000) comes up through the kernel's wacom driver, and the catalog's
        # Wacom rule (any 056a product) makes it a tablet.
        assert tablet is not None and tablet["kind"] == "tablet"
        before = mark(probe)
        vm.unplug("wacom")
        lost = wait_new(probe, f"{ROOT}/{tablet['id']}", 60, lambda s: s.get("status") == "lost", before)
        assert lost["availability"] == "offline"
    (BUILD / "hotplug-latency.txt").write_text(
        "device_add → MQTT inventory online (s): " + " ".join(f"{t:.2f}" for t in latencies) + "\n")
    print(f"hot-plug latency, device_add → inventory online: {latencies}")


def test_bridges_undeclared_never_written_declared_probed_and_driven(unplug_after: Machine,
                                                                     guest_daemon: GuestDaemon) -> None:
    vm = unplug_after
    listener, board = Listener(), MarlinBoard()
    try:
        attach(vm, "bridge-silent", listener.port)
        attach(vm, "bridge-printer", board.port)
        probe = guest_daemon.start(DECLARED)
        plug_bridge(vm, "ftdi-bridge", "bridge-silent", "BRIDGE01")
        plug_bridge(vm, "ftdi-printer", "bridge-printer", PRINTER_SERIAL)
        printer = probe.wait_topic(f"{ROOT}/vm-printer", 120, lambda s: s.get("status") == "ready")
        assert printer["availability"] == "online"
        assert board.sim.stats.resets >= 1 and board.sim.host_connected

        # Discovery in the guest sees the other bridge, says why it is not a device, and sends it nothing.
        # --no-probe: the running daemon holds the declared printer's port.
        found = json.loads(vm.run(PYTHON, "-m", "classroomd", "discover", "--json", "--no-probe", "--config",
                                  f"{GUEST_OUT}/classroomd.toml", timeout=180).stdout)
        bridge = next(u for u in found["unclassified"] if u.get("serial") == "BRIDGE01")
        assert bridge["usb"] == "0403:6001" and bridge["paths"][0].startswith("/dev/ttyUSB")
        assert "never probed" in bridge["reason"] and "[[devices]]" in bridge["reason"]
        inventory = probe.on(f"{ROOT}/devices")[-1].json()
        assert device(inventory, id="vm-printer") is not None
        assert not [d for d in inventory if d["id"] != "vm-printer" and "0403" in d["id"]]
        assert listener.read() == b"", "bytes were written to an undeclared bridge"
        vm.unplug("ftdi-printer")
        vm.unplug("ftdi-bridge")
        lost = probe.wait_topic(f"{ROOT}/vm-printer", 60, lambda s: s.get("status") in ("lost", "fault"))
        assert lost["availability"] == "offline"
    finally:
        vm.unplug_all()
        for chardev in ("bridge-silent", "bridge-printer"):
            detach(vm, chardev)
        listener.close()
        board.close()
