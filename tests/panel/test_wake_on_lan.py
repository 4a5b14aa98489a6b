"""Wake-on-LAN as the first step of power-on for panels that sleep off the LAN (issue #19, item 6).

The magic packet is received for real on a UDP socket on localhost and checked byte for byte.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import RequestError, Status
from classroomd.devices.panel import PanelDevice
from classroomd.drivers.wake_on_lan import magic_packet, parse_mac, send_magic_packet
from classroomd.simulators.panel_family import FamilySim
from tests.panel.support import Server, WebHost, board_client

MAC = "00:1a:2b:3c:4d:5e"
EXPECTED = bytes.fromhex("ff" * 6 + "001a2b3c4d5e" * 16)


async def test_the_magic_packet_arrives_as_amd_defined_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(2)
        await send_magic_packet(MAC, "127.0.0.1", receiver.getsockname()[1])
        packet = await asyncio.to_thread(receiver.recv, 1024)
    assert packet == EXPECTED and len(packet) == 102
    assert magic_packet("00-1A-2B-3C-4D-5E") == magic_packet("001a2b3c4d5e") == EXPECTED
    with pytest.raises(ValueError, match="not a MAC"):
        parse_mac("00:1a:2b:3c:4d")


def test_a_bad_mac_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="mac"):
        PanelDevice.from_config(DeviceConfig.model_validate(
            {"id": "panel-1", "kind": "panel", "host": "127.0.0.1", "profile": "lg", "mac": "not-a-mac"}))


@pytest.fixture(params=["lg", "viewsonic"])
async def sleeper(request: pytest.FixtureRequest) -> AsyncIterator[FamilySim]:
    sim = await FamilySim.of(request.param, mac=MAC, sleeps_off_lan=True, boot_s=0.3).start()
    yield sim
    await sim.close()


async def open_panel(host: WebHost, sim: FamilySim, **extra: Any) -> PanelDevice:
    panel = PanelDevice.from_config(DeviceConfig.model_validate({
        "id": "panel-1", "kind": "panel", "host": "127.0.0.1", "tcp_port": sim.port, "profile": sim.profile.name,
        "input": "hdmi1", "poll_s": 0.2, "mac": MAC, "wol_address": "127.0.0.1", "wol_port": sim.wol_port, **extra}))
    await panel.start(host)
    host.add(panel)
    return panel


async def test_show_wakes_a_panel_asleep_off_the_lan(sleeper: FamilySim, host: WebHost, server: Server) -> None:
    assert not sleeper.listening
    panel = await open_panel(host, sleeper)
    # A closed control port on a Wake-on-LAN panel is standby, not a fault.
    assert panel.status is Status.READY and panel.power == "standby"
    assert ("panel-1", "not_responding") not in host.alerts
    async with board_client(server, "panel-1"):
        reply = await panel.request("show", {"clear": True})
    assert reply["steps"][0] == {"step": "power", "done": "switched on", "via": "wake-on-lan"}
    assert [s["done"] for s in reply["steps"][1:]] == ["switched to hdmi1", "shown"]
    assert sleeper.magic_packets[0] == EXPECTED
    assert sleeper.awake and sleeper.state["input"] == sleeper.profile.inputs["hdmi1"]
    await panel.stop()


async def test_power_on_and_off_through_sleep(sleeper: FamilySim, host: WebHost) -> None:
    panel = await open_panel(host, sleeper)
    assert await panel.request("power", {"state": "on"}) == {"power": "on"}
    assert sleeper.magic_packets == [EXPECTED] and sleeper.listening
    assert await panel.request("power", {"state": "standby"}) == {"power": "standby"}
    await asyncio.sleep(0.8)  # polls meet a closed port: still standby, still READY
    assert not sleeper.listening
    assert panel.status is Status.READY and panel.power == "standby"
    assert ("panel-1", "not_responding") not in host.alerts
    await panel.stop()


async def test_a_panel_that_never_wakes_fails_the_power_step(host: WebHost, server: Server) -> None:
    sim = await FamilySim.of("lg", mac="02:00:00:00:00:01", sleeps_off_lan=True).start()  # another MAC
    try:
        panel = await open_panel(host, sim)
        assert panel.profile is not None
        panel.profile = dataclasses.replace(panel.profile, link=dataclasses.replace(panel.profile.link,
                                                                                     wake_timeout_s=1.0))
        async with board_client(server, "panel-1"):
            with pytest.raises(RequestError) as failed:
                await panel.request("show", {"clear": True})
        assert failed.value.code == "panel_power_failed"
        assert "Wake-on-LAN" in failed.value.message and sim.magic_packets[0] == EXPECTED
        await panel.stop()
    finally:
        await sim.close()
