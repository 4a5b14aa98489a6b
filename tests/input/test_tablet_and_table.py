"""Tablet and touch table devices fed by recordings through the same source interface as evdev."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import Kind, Lesson, RequestError, Status
from classroomd.devices.tablet import TabletDevice, simplify
from classroomd.devices.touch_table import TouchTableDevice
from classroomd.drivers.evdev_input import EV_SYN, SYN_REPORT, write_recording
from classroomd.simulators.input import PEN_CAPS, TOUCH_CAPS, pen_stroke, touches
from tests.foundation.lamp import Lamp
from tests.support.host import RecordingHost


def tablet(tmp_path: Path, events: list[tuple[float, int, int, int]], **extra: object) -> TabletDevice:
    recording = tmp_path / "pen.json"
    # A long pause at the end keeps the looped replay from starting over during the test.
    write_recording(recording, PEN_CAPS, [*events, (60.0, EV_SYN, SYN_REPORT, 0)])
    config = DeviceConfig.model_validate({"id": "tablet-1", "kind": Kind.TABLET, "source": f"replay://{recording}",
                                          "activity_every_s": 0.01, **extra})
    return TabletDevice.from_config(config)


def circle(n: int = 40) -> list[tuple[float, float]]:
    return [(0.5 + 0.25 * math.cos(2 * math.pi * i / n), 0.5 + 0.25 * math.sin(2 * math.pi * i / n))
            for i in range(n + 1)]


async def test_a_stroke_makes_the_tablet_active_and_is_summarised(tmp_path: Path) -> None:
    host = RecordingHost(tmp_path, current_lesson=Lesson(id="bio-7a"))
    device = tablet(tmp_path, pen_stroke(circle(), rate_hz=500))
    await device.start(host)
    try:
        assert device.status is Status.READY
        await host.wait_for(lambda: device.strokes_drawn == 1 and not device.snapshot()["in_proximity"], 5)
        assert host.named("activity"), "use of the pen must be summarised as activity events"
        state = device.snapshot()
        assert state["pressure_levels"] == 8192 and state["tilt"] is True
        assert abs(state["aspect"] - 157.48 / 98.425) < 0.01
        assert state["in_proximity"] is False and state["events_per_min"] > 0
    finally:
        await device.stop()


async def test_ink_reaches_the_board_batched_and_is_saved_on_the_shown_capture(tmp_path: Path) -> None:
    host = RecordingHost(tmp_path, current_lesson=Lesson(id="bio-7a"))
    host.devices["panel-1"] = Lamp("panel-1")
    jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), 200, np.uint8))[1].tobytes()
    item = host.media.save_capture(jpeg, {"device": "scope-1", "lesson": "bio-7a", "width": 160, "height": 120})
    board = host.board.attach("panel-1")
    host.board._remember("panel-1", {"media": item.id})
    # The pen waits in the air first so that `attach` lands before the stroke.
    device = tablet(tmp_path, [(1.0, EV_SYN, SYN_REPORT, 0), *pen_stroke(circle(120), rate_hz=240)])
    await device.start(host)
    try:
        with pytest.raises(RequestError) as refused:
            await device.request("attach", {"panel": "nope"})
        assert refused.value.code == "unknown_device"
        reply = await device.request("attach", {"panel": "panel-1"})
        assert reply["boards"] == 1
        await host.wait_for(lambda: device.strokes_drawn == 1, 8)
        messages = []
        while not board.outgoing.empty():
            messages.append(board.outgoing.get_nowait())
        ink = [m for m in messages if m["type"] == "ink"]
        # 120 samples over 0.5 s at <= 30 batches/s: a handful of batches, not one per sample.
        assert 2 <= len(ink) <= 30
        points = [p for m in ink for s in m["strokes"] for p in s["points"]]
        assert all(0 <= x <= 1 and 0 <= y <= 1 and 0 <= p <= 1 for x, y, p in points)
        assert ink[-1]["strokes"][0]["final"] is True
        saved = host.media.get(item.id)
        assert saved is not None
        [annotation] = saved.meta["annotations"]
        assert annotation["device"] == "tablet-1" and 4 <= len(annotation["points"]) < 120
        cleared = await device.request("clear_ink", {})
        assert cleared["boards"] == 1 and board.outgoing.get_nowait()["clear"] is True
        await device.request("detach", {})
        with pytest.raises(RequestError):
            await device.request("clear_ink", {})
    finally:
        await device.stop()


def test_simplify_keeps_corners_and_drops_collinear_points() -> None:
    line = [(i / 10, i / 10, 0.5) for i in range(11)]
    assert simplify(line, 0.001) == [line[0], line[-1]]
    corner = [(0.0, 0.0, 0.5), (0.5, 0.0, 0.5), (1.0, 0.0, 0.5), (1.0, 0.5, 0.5), (1.0, 1.0, 0.5)]
    assert simplify(corner, 0.001) == [corner[0], corner[2], corner[4]]


async def test_a_node_without_a_pen_is_refused(tmp_path: Path) -> None:
    recording = tmp_path / "touch.json"
    write_recording(recording, TOUCH_CAPS, [])
    device = TabletDevice.from_config(DeviceConfig(id="tablet-1", kind=Kind.TABLET, source=f"replay://{recording}"))
    with pytest.raises(Exception, match="no pen"):
        await device.start(RecordingHost(tmp_path))


async def test_touch_table_counts_contacts_peak_and_touches(tmp_path: Path) -> None:
    recording = tmp_path / "touch.json"
    five = [[(0.1 * f, 0.5)] * 3 for f in range(1, 6)]
    write_recording(recording, TOUCH_CAPS, [*touches(five, 10, rate_hz=200), (60.0, EV_SYN, SYN_REPORT, 0)])
    host = RecordingHost(tmp_path)
    device = TouchTableDevice.from_config(DeviceConfig.model_validate(
        {"id": "table-1", "kind": Kind.TOUCH_TABLE, "source": f"replay://{recording}", "activity_every_s": 0.01}))
    await device.start(host)
    try:
        await host.wait_for(lambda: device.snapshot()["touches"] == 5 and device.snapshot()["contacts"] == 0, 5)
        state = device.snapshot()
        assert state["peak_contacts"] == 5 and state["max_contacts"] == 10
        assert host.named("activity")[-1].data["touches"] >= 1
    finally:
        await device.stop()
    assert device.status is Status.OFFLINE


async def test_a_missing_node_is_a_clear_error_for_the_supervisor(tmp_path: Path) -> None:
    device = TabletDevice.from_config(DeviceConfig.model_validate(
        {"id": "tablet-1", "kind": Kind.TABLET, "source": "/dev/input/event-does-not-exist"}))
    with pytest.raises(Exception, match="cannot open"):
        await device.start(RecordingHost(tmp_path))
