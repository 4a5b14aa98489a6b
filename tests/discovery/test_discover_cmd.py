"""`classroomd discover` as a lab engineer reads it, under umockdev with every fixture plugged in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.umockdev import FIXTURES, fixtures, requires_umockdev, run_command

pytestmark = [pytest.mark.umockdev, requires_umockdev]


@pytest.fixture(scope="module")
def text() -> str:
    fx = fixtures()
    proc = run_command([sys.executable, "-m", "classroomd", "discover"], fx.devices, ioctls=fx.ioctls,
                       scripts={"/dev/ttyACM0": FIXTURES / "prusa-m115.script"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_text_lists_devices_with_kind_id_paths_ids_serial_and_rule(text: str) -> None:
    assert text.startswith("Found 7 classroom devices:\n")
    block = text.split('printer      printer-2c99-0002-czpx1017x003xc12345  "Original Prusa i3 MK3"\n')[1]
    lines = block.splitlines()[:5]
    assert lines[0].split() == ["paths", "/dev/ttyACM0"]
    assert lines[1].split() == ["usb", "2c99:0002", "serial", "CZPX1017X003XC12345", "transport", "serial"]
    assert lines[2].strip().startswith("rule     catalog rule 'prusa'")
    assert lines[3].split(None, 1) == ["firmware", "Prusa-Firmware 3.13.3 based on Marlin"]
    assert 'tablet       tablet-256c-006d-usb1-4  "Gaomon Tablet_S620"' in text
    assert "name '*gaomon*' ~ 'Gaomon Tablet_S620'" in text


def test_text_explains_what_it_did_not_classify(text: str) -> None:
    unclassified = text.split("Seen but not classified (4):\n")[1]
    assert '"WCH USB2.0-Serial"  usb 1a86:7523  /dev/ttyUSB0' in unclassified
    assert "never probed on its own" in unclassified
    assert '"Webcam C270"  usb 046d:0825   serial 7A1B2C3D  /dev/video4 /dev/video5' in unclassified
    assert "why      a HID device with no catalog rule for usb 16c0:05df" in unclassified


def test_json_lists_declared_devices_it_did_not_see(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[[devices]]\nid = "globe-1"\nkind = "globe"\nport = "/dev/ttyUSB7"\n')
    fx = fixtures("microscope")
    proc = run_command([sys.executable, "-m", "classroomd", "discover", "--json", "--config", str(config)],
                       fx.devices)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [d["id"] for d in out["declared"]] == ["globe-1"]
    assert [d["kind"] for d in out["devices"]] == ["microscope"]
