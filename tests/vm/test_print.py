"""Scenario 2: a print through the kernel's USB-serial driver (QEMU's FTDI emulation → ftdi_sio →
/dev/ttyUSB0) to the Marlin simulator on the host; the bridge unplugged mid-print, and plugged again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.printer.support import moves, write_gcode
from tests.support.probe import Probe
from tests.vm.daemon import PYTHON, ROOT, GuestDaemon, mark, wait_new
from tests.vm.machine import GUEST_OUT, Machine
from tests.vm.serial_peers import MarlinBoard, attach, detach, plug_bridge
from tests.vm.test_hotplug import DECLARED, PRINTER_SERIAL

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def board(vm: Machine) -> Iterator[MarlinBoard]:
    sim = MarlinBoard(motion_scale=0.0, heat_rate_c_s=200.0)
    attach(vm, "printer-line", sim.port)
    try:
        yield sim
    finally:
        vm.unplug_all()
        detach(vm, "printer-line")
        sim.close()


def start_print(vm: Machine, name: str, commands: list[str]) -> None:
    write_gcode(vm.out / name, commands)
    vm.run(PYTHON, "-m", "classroomd", "print", f"{GUEST_OUT}/{name}", "--printer", "vm-printer",
           "--bed-clear", "--config", f"{GUEST_OUT}/classroomd.toml", timeout=180)


def history(probe: Probe, transaction: int) -> list[dict[str, Any]]:
    probe.publish(f"{ROOT}/vm-printer/request/history", json.dumps({"transaction": transaction}))
    reply = probe.wait_topic(f"{ROOT}/vm-printer/response/history", 60, lambda r: r.get("transaction") == transaction)
    jobs: list[dict[str, Any]] = reply["data"]["jobs"]
    return jobs


def test_print_through_ftdi_sio_unplug_mid_print_and_replug(vm: Machine, board: MarlinBoard,
                                                           guest_daemon: GuestDaemon) -> None:
    probe = guest_daemon.start(DECLARED + "progress_interval_s = 0.5\n")
    plug_bridge(vm, "ftdi-printer", "printer-line", PRINTER_SERIAL)
    probe.wait_topic(f"{ROOT}/vm-printer", 120, lambda s: s.get("status") == "ready")

    commands = ["M140 S40", "M104 S60", "G28", "M190 S40", "M109 S60", *moves(300), "M104 S0", "M140 S0"]
    start_print(vm, "short.gcode", commands)
    done = probe.wait_topic(f"{ROOT}/vm-printer/event/job_finished", 240)
    assert done["job"]["outcome"] == "finished" and done["job"]["lines_sent"] == len(commands)
    assert [c for _, c in board.sim.executed][-len(commands):] == commands

    # A long job, the cable pulled once it is under way.
    board.sim.profile.motion_scale = 0.05
    start_print(vm, "long.gcode", moves(5000))
    probe.wait_topic(f"{ROOT}/vm-printer/event/progress", 120, lambda e: e.get("lines_sent", 1) > 0)
    before = mark(probe)
    vm.unplug("ftdi-printer")
    failed = wait_new(probe, f"{ROOT}/vm-printer/event/job_failed", 120, lambda e: True, before)
    job = failed["job"]
    assert job["outcome"] in ("interrupted", "failed") and 0 < job["lines_sent"] < 5000
    lost = wait_new(probe, f"{ROOT}/vm-printer", 60, lambda s: s.get("status") == "lost", before)
    assert lost["availability"] == "offline"
    assert lost["reason"].count("/dev/ttyUSB") == 1, lost["reason"]  # the port named once

    before = mark(probe)
    plug_bridge(vm, "ftdi-printer", "printer-line", PRINTER_SERIAL)
    back = wait_new(probe, f"{ROOT}/vm-printer", 120, lambda s: s.get("status") == "ready", before)
    assert back["availability"] == "online" and back["job"] is None
    # The interrupted job's record survived the unplug as it was when the cable went.
    [record, finished] = history(probe, 1)[:2]
    assert record["id"] == job["id"] and record["outcome"] == job["outcome"] and record["ended"]
    assert record["lines_sent"] == job["lines_sent"] and finished["outcome"] == "finished"
