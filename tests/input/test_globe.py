"""The globe over a real pty, speaking the default profile; profiles validated as data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import Kind, Lesson, Status
from classroomd.devices.countries import country_card
from classroomd.devices.globe import GlobeDevice
from classroomd.drivers.globe_protocol import GlobeProfile, ProfileError, load_profile
from classroomd.simulators.globe import GlobeSimulator
from tests.support.host import RecordingHost


def globe_config(port: str, **extra: object) -> DeviceConfig:
    return DeviceConfig.model_validate({"id": "globe-1", "kind": Kind.GLOBE, "port": port, "profile": "default",
                                        **extra})


async def test_a_touch_becomes_a_country_in_three_languages(tmp_path: Path) -> None:
    sim = GlobeSimulator()
    host = RecordingHost(tmp_path, current_lesson=Lesson(id="geo-9b"))
    device = GlobeDevice.from_config(globe_config(sim.path, debounce_s=5))
    await device.start(host)
    try:
        assert device.status is Status.READY
        sim.banner()  # not a touch: ignored
        sim.touch(0x01)
        sim.touch(0x01)  # the pen resting on Kazakhstan: one touch, not two
        sim.touch(0x10)
        sim.touch(0x7F)  # not in the region table
        await host.wait_for(lambda: len(host.named("touched")) == 2 and host.named("unknown_region"), 5)
        kz, de = (e.data for e in host.named("touched"))
        assert kz["country"] == "KZ" and kz["name"] == {"kk": "Қазақстан", "ru": "Казахстан", "en": "Kazakhstan"}
        assert kz["lesson"] == "geo-9b" and kz["code"] == "01"
        assert de["country"] == "DE" and de["name"]["ru"] == "Германия"
        assert host.named("unknown_region")[0].data == {"code": "7F"}
        state = device.snapshot()
        assert state["touches"] == 2 and state["unknown_codes"] == 1 and state["last_touch"]["country"] == "DE"
    finally:
        await device.stop()
        await sim.close()


async def test_an_unplugged_globe_goes_lost_and_comes_back(tmp_path: Path) -> None:
    # A stable name for a node that changes when replugged, as /dev/serial/by-id/… is.
    link = tmp_path / "usb-globe"
    sim = GlobeSimulator()
    link.symlink_to(sim.path)
    host = RecordingHost(tmp_path, reopen=True)
    device = GlobeDevice.from_config(globe_config(str(link)))
    host.devices[device.id] = device
    await device.start(host)
    again = GlobeSimulator()
    try:
        await sim.close()  # the pty hangs up, as a USB-serial adapter does when pulled
        await host.wait_for(lambda: device.status is Status.LOST, 5)
        assert device.reason and host.lost == ["globe-1"]
        link.unlink()
        link.symlink_to(again.path)
        await host.wait_for(lambda: device.status is Status.READY, 10)
        again.touch(0x01)
        await host.wait_for(lambda: bool(host.named("touched")), 5)
        assert host.named("touched")[-1].data["country"] == "KZ"
    finally:
        await host.close()
        await device.stop()
        await again.close()


async def test_a_broken_profile_is_a_fault_naming_the_problem(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text('name = "x"\ntransport = "serial"\nline = "TOUCH (\\\\d+)"\n[regions]\n"1" = "XX"\n')
    device = GlobeDevice.from_config(DeviceConfig(id="globe-1", kind=Kind.GLOBE, port="/dev/null",
                                                  profile=str(profile)))
    await device.start(RecordingHost(tmp_path))
    assert device.status is Status.FAULT
    assert "(?P<code>" in device.reason and "XX" in device.reason and str(profile) in device.reason


def test_profiles_decode_lines_and_hid_reports() -> None:
    default = load_profile("default")
    assert default.code_from_line("TOUCH 0A") == 10 and default.region(10) == "IN"
    assert default.code_from_line("T 1f") == 0x1F and default.region(0x1F) == "NZ"
    assert default.code_from_line("GLOBE v1.0 READY") is None
    hid = GlobeProfile.model_validate({"name": "hid", "transport": "hidraw", "report_size": 8, "code_offset": 2,
                                       "code_base": 10, "regions": {"25": "KZ"}})
    assert hid.code_from_report(bytes([1, 0, 25, 0, 0, 0, 0, 0])) == 25 and hid.region(25) == "KZ"
    assert hid.code_from_report(bytes(8)) is None and hid.code_from_report(b"\x01") is None
    with pytest.raises(ProfileError, match="no shipped globe profile"):
        load_profile("nonexistent")


def test_every_region_of_the_default_profile_has_a_full_card() -> None:
    for iso in load_profile("default").regions.values():
        card = country_card(iso)
        assert set(card["name"]) == {"kk", "ru", "en"} and all(card["name"].values())
        assert set(card["capital"]) == {"kk", "ru", "en"}, iso
        assert len(card["flag"]) == 2


async def test_a_touch_shows_the_country_card_on_the_panels_board(tmp_path: Path) -> None:
    from classroomd.devices.panel import PanelDevice

    sim = GlobeSimulator()
    host = RecordingHost(tmp_path)
    panel = PanelDevice.from_config(DeviceConfig(id="panel-1", kind=Kind.PANEL))  # display only
    host.devices["panel-1"] = panel
    await panel.start(host)
    board = host.board.attach("panel-1")
    shown: list[dict[str, object]] = []

    async def board_page() -> None:  # what board.js does with a `show`: render, then acknowledge
        while True:
            message = await board.outgoing.get()
            if message["type"] == "show":
                shown.append(message["content"])
                host.board.received(board, {"type": "ack", "id": message["id"]})

    page = asyncio.create_task(board_page())
    device = GlobeDevice.from_config(globe_config(sim.path, panel="panel-1"))
    host.devices[device.id] = device
    await device.start(host)
    try:
        await panel.request("hand", {"device": "globe-1"})  # the board is the teacher's until handed over
        shown.clear()
        sim.touch(0x0F)
        await host.wait_for(lambda: bool(shown), 5)
        card = shown[0]["card"]
        assert isinstance(card, dict)
        assert card["iso"] == "GE" and card["capital"]["kk"] == "Тбилиси" and card["name"]["ru"] == "Грузия"
        await host.wait_for(lambda: bool(host.named("shown")), 5)
    finally:
        page.cancel()
        await device.stop()
        await panel.stop()
        await sim.close()
