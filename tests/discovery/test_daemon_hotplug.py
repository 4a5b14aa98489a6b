"""The daemon end to end: plug and unplug through a umockdev Testbed, watch inventory and availability
on a real Mosquitto."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import Mosquitto, free_port
from tests.support.probe import Probe
from tests.support.umockdev import TestbedProcess, requires_testbed

pytestmark = [pytest.mark.umockdev, requires_testbed]

ROOT = "classroom/lab/biology"

# The testbed lives in this driver; the daemon is its child, seeing the testbed through
# UMOCKDEV_DIR and the preload library umockdev-wrapper put in LD_PRELOAD.
DRIVER = r"""
import os, re, subprocess
os.environ["UMOCKDEV_DIR"] = testbed.get_root_dir()
daemon = subprocess.Popen([PYTHON, "-m", "classroomd", "run", "--config", CONFIG],
                          stdout=open(LOG, "wb"), stderr=subprocess.STDOUT)
emit(event="ready")
added = {}
for line in sys.stdin:
    verb, name = line.split()
    if verb == "add":
        add_fixture(name)
        manifest = json.load(open(os.path.join(FIXTURE_DIR_, "fixtures.json")))[name]
        text = open(os.path.join(FIXTURE_DIR_, manifest["umockdev"])).read()
        added[name] = ["/sys" + p for p in re.findall(r"^P: (.+)$", text, re.M)]
    else:
        for syspath in added.pop(name):
            testbed.uevent(syspath, "remove")
            testbed.remove_device(syspath)
    emit(event="done", verb=verb, name=name)
daemon.terminate()
daemon.wait(20)
"""


@pytest.fixture
def classroom(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[tuple[TestbedProcess, Probe]]:
    config = tmp_path / "classroom.toml"
    config.write_text(f'site = "lab"\nroom = "biology"\n[mqtt]\nurl = "{mosquitto.url}"\n'
                      f'[http]\nlisten = "127.0.0.1:{free_port()}"\n'
                      f'[agent]\nstate_dir = "{tmp_path / "state"}"\nhealth_interval_s = 60\n')
    from tests.support.umockdev import FIXTURES

    head = (f"PYTHON = {sys.executable!r}\nCONFIG = {str(config)!r}\nLOG = {str(tmp_path / 'daemon.log')!r}\n"
            f"FIXTURE_DIR_ = {str(FIXTURES)!r}\n")
    testbed = TestbedProcess(head + DRIVER)
    probe = Probe(mosquitto.port).connect()
    probe.subscribe(f"{ROOT}/#")
    try:
        testbed.expect(timeout=20, event="ready")
        probe.wait_topic(f"{ROOT}/agent", 30, lambda a: a.get("state") == "online")
        yield testbed, probe
    finally:
        probe.close()
        testbed.close()
        log = tmp_path / "daemon.log"
        if log.exists():
            print(log.read_text()[-4000:])


def device(inventory: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((d for d in inventory if d["kind"] == kind), None)


def test_plug_and_unplug_reach_the_broker(classroom: tuple[TestbedProcess, Probe]) -> None:
    testbed, probe = classroom
    testbed.send("add microscope")
    inventory = probe.wait_topic(f"{ROOT}/devices", 10, lambda inv: device(inv, "microscope") is not None)
    scope = device(inventory, "microscope")
    assert scope is not None and scope["id"] == "microscope-18ec-5850-usb1-6"
    assert scope["name"] == "ARKMICRO USB Microscope"

    testbed.send("remove microscope")
    # A status change belongs to the device's own topic; the inventory changes only with membership,
    # identity or availability (docs/mqtt.md), so it is read there.
    lost = probe.wait_topic(f"{ROOT}/{scope['id']}", 10, lambda s: s.get("status") == "lost")
    assert lost["availability"] == "offline"
    assert probe.on(f"{ROOT}/{scope['id']}/availability")[-1].payload == b"offline"
    listed = device(probe.on(f"{ROOT}/devices")[-1].json(), "microscope")
    assert listed is not None and listed["id"] == scope["id"] and listed["availability"] == "offline"


def test_a_printer_that_does_not_answer_m115_is_listed_unidentified(classroom: tuple[TestbedProcess, Probe]) -> None:
    testbed, probe = classroom
    testbed.send("add prusa")  # the testbed's tty is silent: nothing answers M115
    inventory = probe.wait_topic(f"{ROOT}/devices", 20,
                                 lambda inv: (device(inv, "printer") or {}).get("status") == "unidentified")
    printer = device(inventory, "printer")
    assert printer is not None and printer["id"] == "printer-2c99-0002-czpx1017x003xc12345"
    assert printer["availability"] == "offline"
