"""Enumeration and classification of real devices' udev trees under umockdev."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.umockdev import fixtures, requires_umockdev, run_json

pytestmark = [pytest.mark.umockdev, requires_umockdev]

SCAN = """
import json
from classroomd.config.schema import Config
from classroomd.daemon.catalog import Catalog
from classroomd.daemon.discovery import Discovery
config = Config.model_validate(json.loads(CONFIG))
d = Discovery(Catalog.load(), config, lambda i: None, lambda i: None, probe=False)
print(json.dumps(d.scan().describe()))
"""


def scan(*names: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    import json

    fx = fixtures(*names)
    code = f"CONFIG = {json.dumps(json.dumps(config or {}))}\n" + SCAN
    result: dict[str, Any] = run_json(code, fx.devices, ioctls=fx.ioctls)
    return result


@pytest.fixture(scope="module")
def everything() -> dict[str, Any]:
    return scan()


def by_usb(result: dict[str, Any], usb: str, key: str = "devices") -> list[dict[str, Any]]:
    return [d for d in result[key] if d.get("usb") == usb]


def test_wacom_pen_pad_and_touch_nodes_are_one_tablet(everything: dict[str, Any]) -> None:
    [wacom] = by_usb(everything, "056a:0357")
    assert wacom["kind"] == "tablet"
    assert wacom["id"] == "tablet-056a-0357-8bq00h1001234"
    assert wacom["serial"] == "8BQ00H1001234"
    assert wacom["vendor"] == "Wacom"
    assert wacom["matched_by"].startswith("catalog rule 'wacom'")
    assert wacom["options"]["nodes"] == {"pen": "/dev/input/event10", "pad": "/dev/input/event11",
                                         "touch": "/dev/input/event12"}
    assert wacom["options"]["pressure_levels"] == 8192
    assert wacom["paths"][:3] == ["/dev/input/event10", "/dev/input/event11", "/dev/input/event12"]
    assert "/dev/hidraw1" in wacom["paths"]


def test_huion_and_gaomon_share_ids_and_are_told_apart_by_name(everything: dict[str, Any]) -> None:
    tablets = {d["vendor"]: d for d in by_usb(everything, "256c:006d")}
    assert set(tablets) == {"Huion", "Gaomon"}
    assert "huion-006d" in tablets["Huion"]["matched_by"]
    assert "'*huion*' ~ 'Huion Tablet_H640P'" in tablets["Huion"]["matched_by"]
    assert "gaomon-006d" in tablets["Gaomon"]["matched_by"]
    # Without a serial number the id comes from the USB port, so the two stay distinct.
    assert tablets["Huion"]["id"] == "tablet-256c-006d-usb1-3"
    assert tablets["Gaomon"]["id"] == "tablet-256c-006d-usb1-4"


def test_touch_frames_are_tables_by_contact_count(everything: dict[str, Any]) -> None:
    [ilitek] = by_usb(everything, "222a:0001")
    # A 10-point surface is a panel's touch overlay; the 20-point one is a table.
    assert ilitek["kind"] == "panel" and ilitek["options"]["role"] == "touch"
    assert ilitek["options"]["contacts"] == 10
    assert "10 contacts < 11" in ilitek["matched_by"]
    assert ilitek["paths"][0] == "/dev/input/event20"
    [egalax] = by_usb(everything, "0eef:c000")
    assert egalax["kind"] == "touch_table" and egalax["options"]["contacts"] == 20


def test_microscope_video_nodes_are_one_device(everything: dict[str, Any]) -> None:
    [scope] = by_usb(everything, "18ec:5850")
    assert scope["kind"] == "microscope"
    assert scope["paths"] == ["/dev/video2", "/dev/video3"]  # the capture node first
    # The chip rule with a name is more specific than the name-only rule.
    assert scope["matched_by"].startswith("catalog rule 'arkmicro-microscope'")


def test_printer_by_catalog_with_serial_id(everything: dict[str, Any]) -> None:
    [prusa] = by_usb(everything, "2c99:0002")
    assert prusa["kind"] == "printer"
    assert prusa["transport"] == "serial"
    assert prusa["id"] == "printer-2c99-0002-czpx1017x003xc12345"
    assert prusa["paths"] == ["/dev/ttyACM0"]
    assert prusa["options"]["probe"] == "m115"


def test_unclassified_devices_say_why(everything: dict[str, Any]) -> None:
    [ch340] = by_usb(everything, "1a86:7523", "unclassified")
    assert "never probed" in ch340["reason"]
    assert ch340["matched_by"].startswith("catalog rule 'ch340'")
    [ftdi] = by_usb(everything, "0403:6001", "unclassified")
    assert "bridge" in ftdi["reason"]
    [webcam] = by_usb(everything, "046d:0825", "unclassified")
    assert "nothing says it is a microscope" in webcam["reason"]
    [hid] = by_usb(everything, "16c0:05df", "unclassified")
    assert "no catalog rule for usb 16c0:05df" in hid["reason"]
    assert not by_usb(everything, "1a86:7523") and not by_usb(everything, "046d:0825")


def test_config_entries_override_the_catalog() -> None:
    config = {"devices": [
        {"id": "panel-front", "kind": "panel", "name": "Front panel", "port": "/dev/ttyUSB1", "profile": "smart-6000"},
        {"id": "scope-2", "kind": "microscope", "name": "Webcam on a stand", "match": {"vid": "046d", "pid": "0825"}},
        {"id": "creality", "kind": "printer", "match": {"vid": "1a86", "pid": "7523"}},
    ]}
    result = scan("ftdi", "webcam", "ch340", config=config)
    found = {d["id"]: d for d in result["devices"]}
    assert found["panel-front"]["kind"] == "panel"
    assert found["panel-front"]["matched_by"] == "config entry 'panel-front' (port /dev/ttyUSB1)"
    assert found["panel-front"]["transport"] == "serial"
    assert found["scope-2"]["name"] == "Webcam on a stand"
    assert found["scope-2"]["matched_by"] == "config entry 'scope-2' (vid 046d, pid 0825)"
    assert found["creality"]["paths"] == ["/dev/ttyUSB0"]
    assert result["unclassified"] == []
