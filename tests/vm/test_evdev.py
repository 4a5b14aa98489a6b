"""Scenario 4: the evdev reader on real kernel input devices (uinput in the guest): a pen, a
10-finger surface, a SYN_DROPPED flood, and both devices destroyed while the reader holds them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.probe import Probe
from tests.vm.daemon import PYTHON, ROOT, GuestDaemon
from tests.vm.images import HERE
from tests.vm.machine import GUEST_OUT, Machine

pytestmark = pytest.mark.timeout(600)

DECLARED = '''
[[devices]]
id = "vm-pen"
kind = "tablet"
match = { name = "VM Pen Tablet" }

[[devices]]
id = "vm-table"
kind = "touch_table"
match = { name = "VM Touch Surface" }
'''


class Player:
    """Steps for tests/vm/guest_uinput.py, through files on the results share."""

    def __init__(self, vm: Machine) -> None:
        self.vm = vm
        self.dir: Path = vm.out / "uinput"
        self.dir.mkdir(mode=0o777)
        self.count = 0
        vm.run("modprobe", "uinput")
        self.pid = vm.spawn(PYTHON, str(HERE / "guest_uinput.py"), f"{GUEST_OUT}/uinput",
                            log=f"{GUEST_OUT}/uinput.log")
        self.wait("created")

    def wait(self, step: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not (self.dir / f"{step}.done").exists():
            if time.monotonic() > deadline:
                log = (self.vm.out / "uinput.log").read_text(errors="replace")
                raise TimeoutError(f"uinput step {step} not done in {timeout}s: {log[-2000:]}")
            time.sleep(0.1)

    def step(self, action: str) -> None:
        self.count += 1
        name = f"{self.count:02d}-{action}"
        (self.dir / name).write_text("")
        self.wait(name)

    def close(self) -> None:
        self.vm.terminate(self.pid, timeout=10)


def latest(probe: Probe, device_id: str, where: Any, timeout: float = 60.0) -> dict[str, Any]:
    state: dict[str, Any] = probe.wait_topic(f"{ROOT}/{device_id}", timeout, where)
    return state


def test_pen_and_touch_through_uinput_flood_and_destroy(guest_daemon: GuestDaemon, vm: Machine) -> None:
    probe = guest_daemon.start(DECLARED)
    play = Player(vm)
    try:
        latest(probe, "vm-pen", lambda s: s.get("status") == "ready")
        latest(probe, "vm-table", lambda s: s.get("status") == "ready")

        play.step("pen")
        try:
            pen = latest(probe, "vm-pen", lambda s: s.get("strokes", 0) >= 1, timeout=20)
        except TimeoutError:
            # Seen twice in about ten runs under full load: the first stroke after the pen came up
            # never reached the state. Not understood yet (docs/testing.md); a second stroke must count.
            print("vm-pen: the first stroke was not counted; drawing a second one")
            play.step("pen")
            pen = latest(probe, "vm-pen", lambda s: s.get("strokes", 0) >= 1)
        assert pen["pressure_levels"] == 8192 and not pen["touching"]

        play.step("down-100")
        table = latest(probe, "vm-table", lambda s: s.get("contacts") == 10)
        assert table["max_contacts"] == 10

        # Thousands of frames in one write overflow the reader's buffer in the kernel: it drops
        # them and says SYN_DROPPED; the tracker resyncs instead of inventing contacts.
        play.step("flood")
        table = latest(probe, "vm-table", lambda s: s.get("resyncs", 0) >= 1)
        assert table["status"] == "ready" and table["contacts"] <= 10

        play.step("lift")
        play.step("down-200")
        latest(probe, "vm-table", lambda s: s.get("contacts") == 10 and s.get("resyncs", 0) >= 1)

        # Destroyed with ten fingers down while the reader holds the node: ENODEV.
        play.step("destroy")
        gone = latest(probe, "vm-table", lambda s: s.get("status") == "lost")
        assert gone["availability"] == "offline"
        assert gone["contacts"] == 0, f"ghost contacts after the device went away: {gone}"
        pen = latest(probe, "vm-pen", lambda s: s.get("status") == "lost")
        assert not pen["touching"] and not pen["in_proximity"]
        lost_states = [m.json() for m in probe.on(f"{ROOT}/vm-table") if m.payload and m.json()["status"] == "lost"]
        assert all(s["contacts"] == 0 for s in lost_states)
        assert "Traceback" not in guest_daemon.log()
    finally:
        play.close()
