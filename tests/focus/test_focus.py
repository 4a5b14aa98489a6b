"""Focus without a browser: the board stays the teacher's until handed over, and comes back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import Kind, RequestError
from classroomd.devices.globe import GlobeDevice
from classroomd.devices.panel import PanelDevice
from classroomd.devices.tablet import TabletDevice
from classroomd.drivers.evdev_input import EV_SYN, SYN_REPORT, write_recording
from classroomd.simulators.globe import GlobeSimulator
from classroomd.simulators.input import PEN_CAPS
from tests.focus.support import Pen, RecordingBoard
from tests.support.host import RecordingHost


@dataclass
class Room:
    host: RecordingHost
    panel: PanelDevice
    globe: GlobeDevice
    sim: GlobeSimulator
    pen: Pen
    board: RecordingBoard

    async def touch(self, code: int) -> None:
        touches = self.globe.touches
        self.sim.touch(code)
        await self.board.until(lambda: self.globe.touches > touches)


async def make_room(tmp_path: Path, **panel_options: Any) -> Room:
    host = RecordingHost(tmp_path)
    panel = PanelDevice.from_config(DeviceConfig.model_validate(
        {"id": "panel-1", "kind": Kind.PANEL, "name": "Front panel", **panel_options}))  # display only
    sim = GlobeSimulator()
    globe = GlobeDevice.from_config(DeviceConfig.model_validate(
        {"id": "globe-1", "kind": Kind.GLOBE, "name": "Globe", "port": sim.path, "profile": "default",
         "panel": "panel-1", "debounce_s": 0}))
    pen = Pen()
    for device in (panel, globe, pen):
        host.devices[device.id] = device
        await device.start(host)
    board = RecordingBoard(host.board).start()
    return Room(host, panel, globe, sim, pen, board)


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    made = await make_room(tmp_path)
    yield made
    made.board.stop()
    for device in (made.globe, made.panel, made.pen):
        await device.stop()
    await made.sim.close()


async def test_a_pupil_touching_the_globe_leaves_the_teachers_board_alone(room: Room) -> None:
    await room.panel.request("show", {"card": {"type": "text", "title": "Жасуша"}})
    await room.touch(0x01)
    await room.board.until(lambda: room.board.of("note"))
    assert len(room.board.shown) == 1  # only the teacher's show
    note = room.board.of("note")[0]
    assert note["source"] == "globe-1" and note["title"] == "Globe" and note["ttl_s"] == 4
    assert note["text"] == {"kk": "Қазақстан", "ru": "Казахстан", "en": "Kazakhstan"}
    assert room.host.board.current("panel-1")["card"]["title"] == "Жасуша"  # type: ignore[index]
    assert room.panel.snapshot()["focus"]["holder"] == "teacher"


async def test_handed_to_the_globe_its_cards_show_and_taking_it_back_restores_the_teachers(room: Room) -> None:
    await room.panel.request("show", {"card": {"type": "text", "title": "Жасуша"}})
    await room.touch(0x02)  # noted only; but it is the globe's last country
    reply = await room.panel.request("hand", {"device": "globe-1"})
    assert reply["focus"]["holder"] == "globe-1" and reply["focus"]["kind"] == "globe"
    assert room.board.shown[-1]["card"]["iso"] == "RU"  # the globe shows what it has at once
    state = room.panel.snapshot()["focus"]
    assert state["holder"] == "globe-1" and state["name"] == "Globe"
    await room.touch(0x03)
    await room.board.until(lambda: room.board.shown[-1]["card"].get("iso") == "CN")

    reply = await room.panel.request("take_back", {})
    assert reply["focus"]["holder"] == "teacher"
    assert room.board.shown[-1]["card"]["title"] == "Жасуша"
    assert [e.data["holder"] for e in room.host.events if e.name == "focus"] == ["globe-1", "teacher"]
    shows = len(room.board.shown)
    await room.touch(0x04)
    await room.board.until(lambda: len(room.board.of("note")) >= 2)
    assert len(room.board.shown) == shows


async def test_ink_is_part_of_the_teachers_content_but_not_a_takeover(room: Room) -> None:
    assert room.pen.draw() == 1  # over the teacher's content: drawn
    await room.panel.request("hand", {"device": "globe-1"})
    assert room.board.shown[-1]["card"]["title"] == "Globe"  # nothing touched yet: a "handed to" card
    assert room.pen.draw() == 0  # over the globe's board: held back, and said in a note
    await room.board.until(lambda: room.board.of("note"))
    note = room.board.of("note")[-1]
    assert note["source"] == "tablet-1" and note["text"]["en"] == "is drawing"
    await room.panel.request("hand", {"device": "tablet-1"})
    assert room.pen.draw() == 1
    await room.board.until(lambda: len(room.board.of("ink")) == 2)


async def test_the_teachers_own_show_takes_the_board_back(room: Room) -> None:
    await room.panel.request("hand", {"device": "globe-1"})
    await room.panel.request("show", {"clear": True})
    assert room.panel.focus == "teacher"
    reply = await room.panel.request("take_back", {})  # nothing to take back: says so, shows nothing new
    assert reply["focus"]["holder"] == "teacher" and reply["content"]["kind"] == "clear"


async def test_refusals_leave_the_focus_where_it_was(room: Room, tmp_path: Path) -> None:
    with pytest.raises(RequestError) as unknown:
        await room.panel.request("hand", {"device": "globe-9"})
    assert unknown.value.code == "unknown_device"
    with pytest.raises(RequestError) as wrong:
        await room.panel.request("hand", {"device": "panel-1"})
    assert wrong.value.code == "invalid_arguments"
    room.board.stop()
    room.host.board.detach(next(iter(room.host.board._boards["panel-1"])))
    with pytest.raises(RequestError) as no_board:
        await room.panel.request("hand", {"device": "globe-1"})
    assert no_board.value.code == "board_not_connected"
    assert room.panel.focus == "teacher"


async def test_notes_can_be_switched_off_and_come_at_most_once_a_second(tmp_path: Path) -> None:
    quiet = await make_room(tmp_path / "quiet", notes_s=0)
    chatty = await make_room(tmp_path / "chatty", notes_s=2.5)
    try:
        for room in (quiet, chatty):
            await room.panel.request("hand", {"device": "globe-1"})
            for _ in range(20):
                room.pen.draw()
        await chatty.board.until(lambda: chatty.board.of("note"))
        assert len(chatty.board.of("note")) == 1 and chatty.board.of("note")[0]["ttl_s"] == 2.5
        assert quiet.board.of("note") == []
    finally:
        for room in (quiet, chatty):
            room.board.stop()
            for device in (room.globe, room.panel, room.pen):
                await device.stop()
            await room.sim.close()


async def test_a_tablet_handed_the_board_is_attached_to_it(room: Room, tmp_path: Path) -> None:
    recording = tmp_path / "pen.json"
    write_recording(recording, PEN_CAPS, [(1.0, EV_SYN, SYN_REPORT, 0)])  # a pen lying still
    tablet = TabletDevice.from_config(DeviceConfig.model_validate(
        {"id": "tablet-2", "kind": Kind.TABLET, "name": "Teacher's tablet", "source": f"replay://{recording}"}))
    room.host.devices[tablet.id] = tablet
    await tablet.start(room.host)
    try:
        assert tablet.attached_panel is None
        await room.panel.request("hand", {"device": "tablet-2"})
        assert tablet.attached_panel == "panel-1" and room.panel.focus == "tablet-2"
    finally:
        await tablet.stop()
