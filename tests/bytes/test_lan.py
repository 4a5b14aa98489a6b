"""The classroom's own broker: what changed goes out, and nothing else.

The demo's pen tablet and touch table replay their recordings in a loop (strokes, pinches, taps),
so the agent sees the same bursts of input a lesson brings.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from classroomd.devices.base import Status
from classroomd.devices.input_tracking import PacedChanges
from tests.bytes.conftest import ROOT, demo_devices, listen
from tests.foundation.lamp import Lamp
from tests.support.mosquitto import Mosquitto

#: The issue counts over a minute of pen activity; the default keeps the suite quick.
WINDOW_S = float(os.environ.get("CLASSROOMD_TEST_PEN_WINDOW_S", "12"))


async def test_pen_and_touch_activity_republish_neither_inventory_nor_availability(
        tmp_path: Path, school: Mosquitto, classroom: Any) -> None:
    async with demo_devices(tmp_path / "sims", skip={"microscope", "printer", "panel"}) as sims:
        await classroom(school.url, [s.config for s in sims])
        probe = listen(school.port, f"{ROOT}/#")
        await asyncio.to_thread(probe.wait_topic, f"{ROOT}/devices", 20,
                                lambda v: len(v) == 3 and all(d["availability"] == "online" for d in v))
        await asyncio.sleep(1.5)  # the start's own publishes are done
        start = len(probe.messages)
        await asyncio.sleep(WINDOW_S)
        with probe.lock:
            window = probe.messages[start:]
        probe.close()

    def count(suffix: str) -> int:
        return sum(1 for m in window if m.topic == f"{ROOT}/{suffix}")

    activity = count("tablet-1/event/activity") + count("table-1/event/activity")
    assert activity >= 2, "the simulators must have been in use during the window"
    assert count("tablet-1") + count("table-1") >= 2, "input state changed during the window"
    assert count("devices") == 0, [m.payload for m in window if m.topic == f"{ROOT}/devices"]
    assert sum(1 for m in window if m.topic.endswith("/availability")) == 0
    # Retained input state: at most about once a second per device.
    for device in ("tablet-1", "table-1"):
        assert count(device) <= WINDOW_S + 1, (device, count(device))


async def test_paced_changes_hold_a_burst_to_one_per_window_and_let_status_through() -> None:
    now = [100.0]
    sent: list[float] = []
    paced = PacedChanges(lambda: sent.append(now[0]), every_s=0.3, clock=lambda: now[0])
    paced.change()
    for _ in range(10):  # a burst inside the window: held, not dropped
        now[0] += 0.01
        paced.change()
    assert sent == [100.0]
    await asyncio.sleep(0.5)
    assert len(sent) == 2, "the held change goes out when the window ends"
    paced.change(urgent=True)
    assert len(sent) == 3, "a status change is never held"
    paced.close()


async def test_a_status_flicker_updates_the_device_not_the_inventory(
        tmp_path: Path, school: Mosquitto, classroom: Any) -> None:
    agent = await classroom(school.url, [])
    lamp = Lamp("lamp-1")
    agent.registry.add(lamp)
    agent.supervisor.start(lamp)
    probe = listen(school.port, f"{ROOT}/#")
    await asyncio.to_thread(probe.wait_topic, f"{ROOT}/devices", 10, lambda v: v and v[0]["status"] == "ready")
    await asyncio.sleep(0.5)
    start = len(probe.messages)
    for _ in range(5):
        lamp.set_status(Status.BUSY)
        await asyncio.sleep(0.25)
        lamp.set_status(Status.READY)
        await asyncio.sleep(0.25)
    await asyncio.to_thread(probe.wait_topic, f"{ROOT}/lamp-1", 5, lambda v: v["status"] == "ready")
    lamp.set_status(Status.FAULT, "bulb missing")  # reachable no more: that is inventory news
    await asyncio.to_thread(probe.wait_topic, f"{ROOT}/devices", 5,
                            lambda v: bool(v) and v[0]["availability"] == "offline")
    await asyncio.sleep(0.5)
    with probe.lock:
        window = probe.messages[start:]
    probe.close()
    states = [m.json()["status"] for m in window if m.topic == f"{ROOT}/lamp-1"]
    assert "busy" in states and states[-1] == "fault"
    assert [m.json()[0]["availability"] for m in window if m.topic == f"{ROOT}/devices"] == ["offline"]
    assert [m.payload for m in window if m.topic == f"{ROOT}/lamp-1/availability"] == [b"offline"]
