"""Classification edge cases: vanished nodes, unreadable nodes, ids, and the rules without a catalog entry."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from classroomd.daemon.catalog import Catalog
from classroomd.daemon.classify import (
    Capabilities,
    Unclassified,
    access_problem,
    classify,
    read_capabilities,
    stable_id,
)
from classroomd.devices.base import DeviceInfo, Kind
from classroomd.drivers.udev_monitor import Candidate, Node, UsbInfo
from tests.support.privileges import run_as_nobody


def candidate(vid: int, pid: int, product: str, nodes: list[Node], serial: str | None = None,
              port: str = "1-4") -> Candidate:
    info = UsbInfo(f"/sys/devices/usb1/{port}", port, vid, pid, serial, "Maker", product, "00")
    return Candidate(info.sys_path, "usb", info, nodes)


def event(n: int, **flags: str) -> Node:
    return Node("input", f"/sys/devices/usb1/input{n}/event{n}", f"event{n}", f"/dev/input/event{n}",
                {"ID_INPUT": "1", **flags}, input_name="Touch Screen")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_a_node_that_vanished_before_open_is_explained(catalog: Catalog) -> None:
    # The touchscreen was unplugged between enumeration and the capability read.
    cand = candidate(0x1234, 0x5678, "Touch Screen", [event(99, ID_INPUT_TOUCHSCREEN="1")])
    got = classify(cand, catalog, None, read_capabilities)
    assert isinstance(got, Unclassified)
    assert "contact count cannot be read" in got.reason and "/dev/input/event99" in got.reason
    assert read_capabilities("/dev/input/event99").startswith("No such file")


def test_a_tablet_whose_nodes_vanished_is_still_the_catalog_tablet(catalog: Catalog) -> None:
    cand = candidate(0x056A, 0x0357, "Intuos PTH-660", [event(98, ID_INPUT_TABLET="1")], serial="X1")
    got = classify(cand, catalog, None, read_capabilities)
    assert isinstance(got, DeviceInfo) and got.kind is Kind.TABLET and got.id == "tablet-056a-0357-x1"


def test_touchscreen_without_catalog_entry_is_decided_by_contacts(catalog: Catalog) -> None:
    few = classify(candidate(0x1234, 0x0001, "Touch", [event(1, ID_INPUT_TOUCHSCREEN="1")]), catalog, None,
                   lambda _p: Capabilities(contacts=4, direct=True))
    many = classify(candidate(0x1234, 0x0002, "Touch", [event(2)]), catalog, None,
                    lambda _p: Capabilities(contacts=20, direct=True))
    assert isinstance(few, DeviceInfo) and few.kind is Kind.PANEL
    assert few.matched_by == "udev ID_INPUT_TOUCHSCREEN=1; evdev 4 contacts < 11: panel touch"
    assert isinstance(many, DeviceInfo) and many.kind is Kind.TOUCH_TABLE
    assert many.matched_by == "evdev direct multi-touch; evdev 20 contacts ≥ 11: touch table"
    assert many.options["contacts"] == 20


def test_pen_without_udev_flags_is_a_tablet_by_capabilities(catalog: Catalog) -> None:
    got = classify(candidate(0x1234, 0x0003, "Pen Tablet", [event(3)]), catalog, None,
                   lambda _p: Capabilities(pen=True, pressure=True, pressure_levels=2048))
    assert isinstance(got, DeviceInfo) and got.kind is Kind.TABLET
    assert got.matched_by == "evdev pen tool with pressure; evdev pen, pressure 2048 levels"


def test_maker_tool_tty_is_a_printer_to_probe(catalog: Catalog) -> None:
    tty = Node("tty", "/sys/devices/usb1/1-4/tty/ttyACM3", "ttyACM3", "/dev/ttyACM3", {"ID_MAKER_TOOL": "1"})
    got = classify(candidate(0x1234, 0x0004, "3D Printer", [tty]), catalog)
    assert isinstance(got, DeviceInfo) and got.kind is Kind.PRINTER and got.options["probe"] == "m115"
    assert got.transport == "serial" and got.paths == ["/dev/ttyACM3"]


def test_catalog_touch_controller_without_multitouch_is_unclassified(catalog: Catalog) -> None:
    got = classify(candidate(0x222A, 0x0001, "ILITEK-TP", [event(4, ID_INPUT_MOUSE="1")]), catalog, None,
                   lambda _p: Capabilities())
    assert isinstance(got, Unclassified) and "names a touch controller" in got.reason


def test_stable_ids() -> None:
    assert stable_id("touch_table", 0x222A, 0x0001, None, "1-5.2") == "touch-table-222a-0001-usb1-5-2"
    assert stable_id("printer", 0x2C99, 0x0002, "CZPX1017X003XC12345", "1-7") == "printer-2c99-0002-czpx1017x003xc12345"
    long = stable_id("microscope", 0x18EC, 0x5850, "{0123-4567-89AB-CDEF-0123-4567-89AB}", "1-6")
    assert long.startswith("microscope-18ec-5850-0123-456-") and len(long) <= 63
    assert long == stable_id("microscope", 0x18EC, 0x5850, "{0123-4567-89AB-CDEF-0123-4567-89AB}", "2-1")


def test_unreadable_node_names_the_group_to_join() -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        node = folder / "ttyACM0"
        node.write_text("")
        node.chmod(0o660)
        if os.geteuid() == 0:  # root may open anything: ask as an unprivileged user
            reason = run_as_nobody(lambda: access_problem(str(node), "tty", write=True) or "")
        else:
            node.chmod(0)
            reason = access_problem(str(node), "tty", write=True) or ""
        assert f"{node} is " in reason
        assert "cannot read and write it: add the user to group 'dialout'" in reason
        assert "classroomd udev install" in reason
        assert access_problem(str(folder), "tty", write=False) is None
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the check as another user")
def test_a_printer_port_the_daemon_cannot_open_is_a_fault_with_the_fix() -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        node = folder / "ttyACM0"
        node.write_text("")
        node.chmod(0o660)
        catalog = Catalog.load()  # read here: the checkout may be closed to `nobody`
        usb = UsbInfo("/sys/devices/usb1/1-7", "1-7", 0x2C99, 0x0002, "CZ1", "Prusa", "Original Prusa i3 MK3", "00")
        tty = Node("tty", "/sys/devices/usb1/1-7/tty/ttyACM0", "ttyACM0", str(node), {})

        def check() -> str:
            info = classify(Candidate(usb.sys_path, "usb", usb, [tty]), catalog)
            assert isinstance(info, DeviceInfo)
            return json.dumps({"kind": str(info.kind), "options": info.options})

        got = json.loads(run_as_nobody(check))
        assert got["kind"] == "printer"
        assert got["options"]["status"] == "fault"
        assert "add the user to group 'dialout'" in got["options"]["reason"]
    finally:
        shutil.rmtree(folder)


def test_catalog_tablet_without_event_nodes_is_explained(catalog: Catalog) -> None:
    hidraw = Node("hidraw", "/sys/devices/usb1/1-2/hidraw/hidraw1", "hidraw1", "/dev/hidraw1", {})
    got = classify(candidate(0x056A, 0x0357, "Intuos PTH-660", [hidraw]), catalog)
    assert isinstance(got, Unclassified)
    assert got.reason.startswith("catalog rule 'wacom' (usb, vid 056a), but the kernel made no input event node")
