"""M115 probes: over a real pseudo-terminal, and through `classroomd discover` under umockdev."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tty
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from classroomd.daemon.serial_probe import parse_m115, probe_m115
from tests.support.umockdev import FIXTURES, fixtures, requires_umockdev, run_command

PRUSA_ANSWER = (b"FIRMWARE_NAME:Prusa-Firmware 3.13.3 based on Marlin FIRMWARE_URL:https://github.com/prusa3d/"
                b"Prusa-Firmware PROTOCOL_VERSION:1.0 MACHINE_TYPE:Prusa i3 MK3S EXTRUDER_COUNT:1\n"
                b"Cap:AUTOREPORT_TEMP:1\nCap:EMERGENCY_PARSER:0\nok\n")


@contextlib.asynccontextmanager
async def fake_board(answer: bytes | None, boot_lines: bytes = b"") -> AsyncIterator[tuple[str, list[bytes]]]:
    """A pty whose master plays a board: optional boot chatter, then `answer` to every M115."""
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    heard: list[bytes] = []
    loop = asyncio.get_running_loop()
    buffer = bytearray()

    def readable() -> None:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            return
        buffer.extend(chunk)
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            heard.append(line)
            if line.strip() == b"M115" and answer is not None:
                os.write(master, answer)

    loop.add_reader(master, readable)
    if boot_lines:
        os.write(master, boot_lines)
    try:
        yield path, heard
    finally:
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)


async def test_probe_identifies_marlin_firmware_over_a_pty() -> None:
    async with fake_board(PRUSA_ANSWER, boot_lines=b"start\necho: External Reset\n") as (path, heard):
        result = await probe_m115(path, timeout=3.0)
    assert result.identified
    assert result.firmware == "Prusa-Firmware 3.13.3 based on Marlin"
    assert result.fields["MACHINE_TYPE"] == "Prusa i3 MK3S"
    assert result.capabilities == {"AUTOREPORT_TEMP": True, "EMERGENCY_PARSER": False}
    assert heard[0] == b"M115"
    assert result.explain() == "probe M115 → FIRMWARE_NAME:Prusa-Firmware 3.13.3 based on Marlin"


async def test_silent_port_is_unidentified_not_guessed() -> None:
    async with fake_board(None) as (path, heard):
        result = await probe_m115(path, timeout=1.5, resend_s=0.5)
    assert not result.identified
    assert result.firmware == ""
    assert "no FIRMWARE_NAME" in result.reason
    assert heard.count(b"M115") >= 2  # resent: boards reset when the port opens


async def test_port_that_answers_something_else_is_unidentified() -> None:
    async with fake_board(b"powerstate=on\r\n>") as (path, _heard):
        result = await probe_m115(path, timeout=1.0, resend_s=0.5)
    assert not result.identified
    assert "powerstate=on" in result.reason


async def test_missing_port_is_reported() -> None:
    result = await probe_m115("/dev/ttyACM-does-not-exist", timeout=0.5)
    assert not result.identified and "cannot open" in result.reason


def test_m115_line_parsing() -> None:
    fields = parse_m115("FIRMWARE_NAME:Marlin 2.1.2.1 (Jun 12 2023) SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
                        "PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 V2 EXTRUDER_COUNT:1")
    assert fields["FIRMWARE_NAME"] == "Marlin 2.1.2.1 (Jun 12 2023)"
    assert fields["MACHINE_TYPE"] == "Ender-3 V2"
    assert fields["EXTRUDER_COUNT"] == "1"


@pytest.mark.umockdev
@requires_umockdev
def test_discover_json_probes_catalog_printers_and_leaves_bridges_alone(tmp_path: Path) -> None:
    # Both ports would answer M115: if discovery probed the CH340 it would come out identified.
    script = FIXTURES / "prusa-m115.script"
    fx = fixtures("prusa", "ch340", "wacom", "microscope")
    proc = run_command([sys.executable, "-m", "classroomd", "discover", "--json"], fx.devices, ioctls=fx.ioctls,
                       scripts={"/dev/ttyACM0": script, "/dev/ttyUSB0": script})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    found = {d["id"]: d for d in out["devices"]}
    prusa = found["printer-2c99-0002-czpx1017x003xc12345"]
    assert prusa["firmware"] == "Prusa-Firmware 3.13.3 based on Marlin"
    assert prusa["matched_by"].endswith("probe M115 → FIRMWARE_NAME:Prusa-Firmware 3.13.3 based on Marlin")
    assert {d["kind"] for d in found.values()} == {"printer", "tablet", "microscope"}
    [ch340] = out["unclassified"]
    assert ch340["usb"] == "1a86:7523" and "firmware" not in ch340 and "never probed" in ch340["reason"]


@pytest.mark.umockdev
@requires_umockdev
def test_discover_probes_a_bridge_the_config_declares_a_printer(tmp_path: Path) -> None:
    config = tmp_path / "classroom.toml"
    config.write_text('[[devices]]\nid = "ender-3"\nkind = "printer"\nname = "Ender 3"\n'
                      'match = { vid = "1a86", pid = "7523" }\n')
    fx = fixtures("ch340")
    proc = run_command([sys.executable, "-m", "classroomd", "discover", "--config", str(config)], fx.devices,
                       scripts={"/dev/ttyUSB0": FIXTURES / "prusa-m115.script"})
    assert proc.returncode == 0, proc.stderr
    assert 'printer      ender-3  "Ender 3"' in proc.stdout
    assert "config entry 'ender-3' (vid 1a86, pid 7523); probe M115 → FIRMWARE_NAME:Prusa" in proc.stdout
    assert "Seen but not classified" not in proc.stdout


PROBE_DECLARED = """
import asyncio, json
from classroomd.config.schema import Config
from classroomd.daemon.catalog import Catalog
from classroomd.daemon.discovery import Discovery
config = Config.model_validate({"devices": [
    {"id": "ender-3", "kind": "printer", "name": "Ender 3", "match": {"vid": "1a86", "pid": "7523"}}]})
d = Discovery(Catalog.load(), config, lambda i: None, lambda i: None, probe_declared=True, probe_timeout_s=2)
print(json.dumps(asyncio.run(d.scan_and_probe()).describe()))
"""


@pytest.mark.umockdev
@requires_umockdev
def test_a_bridge_the_config_declares_a_printer_is_probed() -> None:
    from tests.support.umockdev import run_json

    out = run_json(PROBE_DECLARED, fixtures("ch340").devices,
                   scripts={"/dev/ttyUSB0": FIXTURES / "prusa-m115.script"})
    [ender] = out["devices"]
    assert ender["id"] == "ender-3" and ender["kind"] == "printer" and ender["paths"] == ["/dev/ttyUSB0"]
    assert ender["firmware"] == "Prusa-Firmware 3.13.3 based on Marlin"
    assert ender["matched_by"].startswith("config entry 'ender-3' (vid 1a86, pid 7523); probe M115")


DAEMON_PROBE = """
import asyncio, json
from classroomd.config.schema import Config
from classroomd.daemon.catalog import Catalog
from classroomd.daemon.discovery import Discovery, describe_found
async def main():
    found, lost = [], []
    d = Discovery(Catalog.load(), Config(), found.append, lost.append, probe_timeout_s=3)
    await d.start()
    for _ in range(200):
        if found:
            break
        await asyncio.sleep(0.02)
    d.rescan()
    d.rescan()
    await asyncio.sleep(0.5)
    await d.stop()
    print(json.dumps({"found": [describe_found(i) for i in found], "lost": lost}))
asyncio.run(main())
"""


@pytest.mark.umockdev
@requires_umockdev
def test_the_daemon_probes_a_printer_once_and_reports_it_once() -> None:
    from tests.support.umockdev import run_json

    # The script answers one M115 only: a second probe would come out unidentified.
    out = run_json(DAEMON_PROBE, fixtures("prusa", "ch340").devices,
                   scripts={"/dev/ttyACM0": FIXTURES / "prusa-m115.script"})
    assert out["lost"] == []
    [prusa] = out["found"]
    assert prusa["firmware"] == "Prusa-Firmware 3.13.3 based on Marlin"
    assert "status" not in prusa
