"""PanelDevice over a real TCP connection against simulators of the 9-byte, LG and MDC families."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import RequestError, Status
from classroomd.devices.panel import PanelDevice
from classroomd.simulators.panel_family import FamilySim
from tests.panel.support import Server, WebHost, board_client

PROFILES = ["viewsonic", "benq", "benq-38400", "lg", "samsung-mdc"]


@pytest.fixture(params=PROFILES)
async def family(request: pytest.FixtureRequest) -> AsyncIterator[FamilySim]:
    sim = await FamilySim.of(request.param).start()
    yield sim
    await sim.close()


async def open_panel(host: WebHost, sim: FamilySim, **extra: object) -> PanelDevice:
    config = DeviceConfig.model_validate({"id": "panel-1", "kind": "panel", "host": "127.0.0.1",
                                          "tcp_port": sim.port, "profile": sim.profile.name, "input": "hdmi1",
                                          "poll_s": 30, **extra})
    panel = PanelDevice.from_config(config)
    await panel.start(host)
    host.add(panel)
    return panel


async def test_power_input_volume_mute_and_get(family: FamilySim, host: WebHost) -> None:
    panel = await open_panel(host, family)
    assert panel.status is Status.READY and panel.power == "standby"
    assert panel.snapshot()["control"] == f"tcp://127.0.0.1:{family.port}"
    with pytest.raises(RequestError) as asleep:
        await panel.request("volume", {"level": 20})
    assert asleep.value.code == "panel_standby"

    await panel.request("power", {"state": "on"})
    await panel.request("input", {"name": "hdmi1"})
    await panel.request("volume", {"level": 50})
    await panel.request("mute", {"on": True})
    assert await panel.request("get", {}) == {"power": "on", "input": "hdmi1", "volume": 50, "mute": True}
    assert family.state["input"] == family.profile.inputs["hdmi1"] and family.state["volume"] == 50
    await panel.stop()


async def test_standby_refusals_are_answers_not_silence(family: FamilySim, host: WebHost) -> None:
    panel = await open_panel(host, family)
    panel.power = "unknown"  # as if the daemon had not read it yet: the panel itself must refuse
    with pytest.raises(RequestError) as refused:
        await panel.request("input", {"name": "hdmi1"})
    assert refused.value.code == "panel_refused"
    assert panel.status is Status.READY
    await panel.stop()


async def test_garbage_is_not_believed(family: FamilySim, host: WebHost) -> None:
    panel = await open_panel(host, family)
    family.garbage = True
    with pytest.raises(RequestError) as garbled:
        await panel.request("power", {"state": "on"})
    assert "sent only" in garbled.value.message
    await panel.stop()


async def test_show_wakes_and_switches_over_tcp(family: FamilySim, host: WebHost, server: Server) -> None:
    panel = await open_panel(host, family)
    async with board_client(server, "panel-1"):
        reply = await panel.request("show", {"clear": True})
    assert [s["done"] for s in reply["steps"]] == ["switched on", "switched to hdmi1", "shown"]
    assert family.awake and family.state["input"] == family.profile.inputs["hdmi1"]
    await panel.stop()


async def test_a_refused_connection_fails_start() -> None:
    sim = await FamilySim.of("viewsonic").start()
    port = sim.port
    await sim.close()
    panel = PanelDevice.from_config(DeviceConfig.model_validate(
        {"id": "panel-1", "kind": "panel", "host": "127.0.0.1", "tcp_port": port, "profile": "viewsonic"}))
    with pytest.raises(ConnectionError, match="cannot connect"):
        await panel.start(WebHost(__import__("pathlib").Path("/tmp")))
