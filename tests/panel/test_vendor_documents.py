"""Profiles against what the vendors document, through simulators that follow the documents (issue #19).

Each simulator here answers as the vendor's manual says the panel does, not as the
profile says, so a profile entry that a real panel would refuse or misread fails a test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import RequestError, Status
from classroomd.devices.panel import PanelDevice
from classroomd.drivers.panel_protocols import codec_for, load_profile
from classroomd.simulators.panel_family import FamilySim
from classroomd.simulators.panel_smart import SmartPanelSim, SmartPanelState
from tests.panel.support import Server, WebHost, board_client

Opener = Callable[..., Any]


@pytest.fixture
async def open_panel(host: WebHost) -> AsyncIterator[Opener]:
    opened: list[PanelDevice] = []

    async def make(profile: str, **where: Any) -> PanelDevice:
        config = DeviceConfig.model_validate({"id": "panel-1", "kind": "panel", "profile": profile,
                                              "input": "hdmi1", "poll_s": 30, **where})
        panel = PanelDevice.from_config(config)
        await panel.start(host)
        host.add(panel)
        opened.append(panel)
        return panel

    yield make
    for panel in opened:
        await panel.stop()


@pytest.fixture
async def sims() -> AsyncIterator[Callable[..., Any]]:
    started: list[FamilySim] = []

    async def make(name: str, **kwargs: Any) -> FamilySim:
        sim = await FamilySim.of(name, **kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.close()


# --- 1. ViewSonic: the input read-back starts with a signal digit -------------------------------------
def test_viewsonic_input_read_ignores_the_signal_digit() -> None:
    c = codec_for(load_profile("viewsonic"))
    # Get-Input select reply "104": 1 = signal detected, 04 = HDMI1 (IFP9850-3 Get-Function table).
    assert c.parse("input", False, bytes.fromhex("38 30 31 72 6A 31 30 34")).value == "hdmi1"
    assert c.parse("input", False, bytes.fromhex("38 30 31 72 6A 30 30 34")).value == "hdmi1"
    assert c.parse("input", False, b"801rj114").value == "hdmi2"
    assert c.parse("input", False, b"801rj10A").value == "android"


async def test_viewsonic_show_does_not_switch_an_input_it_is_already_on(
        sims: Callable[..., Any], open_panel: Opener, server: Server) -> None:
    sim = await sims("viewsonic")
    panel = await open_panel("viewsonic", host="127.0.0.1", tcp_port=sim.port)
    async with board_client(server, "panel-1"):
        first = await panel.request("show", {"clear": True})
        second = await panel.request("show", {"clear": True})
    assert [s["done"] for s in first["steps"]] == ["switched on", "switched to hdmi1", "shown"]
    assert [s["done"] for s in second["steps"]] == ["already on", "already on hdmi1", "shown"]
    assert panel.input == "hdmi1"
    assert sum(r[3:5] == b's"' for r in sim.received) == 1  # one input switch, not one per show


# --- 2. LG: PC-mode codes of the same ports ------------------------------------------------------------
async def test_lg_reads_pc_mode_inputs_as_their_ports(sims: Callable[..., Any], open_panel: Opener,
                                                      server: Server) -> None:
    sim = await sims("lg", pc_mode=True)
    panel = await open_panel("lg", host="127.0.0.1", tcp_port=sim.port)
    await panel.request("power", {"state": "on"})
    await panel.request("input", {"name": "hdmi1"})
    assert (await panel.request("get", {}))["input"] == "hdmi1"  # the panel said A0
    for port, pc_code in (("hdmi2", "A1"), ("ops1", "A8"), ("dp1", "D0"), ("dvi", "80")):
        assert load_profile("lg").input_name(pc_code) == port
    async with board_client(server, "panel-1"):
        reply = await panel.request("show", {"clear": True})
    assert [s["done"] for s in reply["steps"]][:2] == ["already on", "already on hdmi1"]


# --- 3. SMART: each model family's own input list ------------------------------------------------------
@pytest.mark.parametrize(("profile", "model"), [("smart-6000", "6000s"), ("smart-6000-v3", "6000s-v3"),
                                                ("smart-mx", "mx")])
async def test_every_smart_input_is_one_the_model_accepts(profile: str, model: str, open_panel: Opener) -> None:
    sim = await SmartPanelSim(SmartPanelState(power="on", input="hdmi2"), model=model).start()
    try:
        panel = await open_panel(profile, port=sim.path)
        assert panel.power == "on" and panel.input == "hdmi2"
        for name in load_profile(profile).inputs:
            assert await panel.request("input", {"name": name}) == {"input": name}
            assert (await panel.request("get", {}))["input"] == name
        await panel.request("power", {"state": "standby"})
        assert panel.power == "standby" and sim.state.power in ("standby", "ready")
    finally:
        await sim.close()


def test_smart_names_follow_the_manuals() -> None:
    assert "usbc1" in load_profile("smart-6000").inputs and "usbc" not in load_profile("smart-6000").inputs
    assert {"usbc1", "usbc2"} <= set(load_profile("smart-6000-v3").inputs)
    for name in ("smart-6000", "smart-6000-v3", "smart-mx"):
        assert not {"dp1", "hdmi4", "usbc"} & set(load_profile(name).inputs), name


# --- 4. BenQ: its own codes and baud -------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["benq", "benq-38400"])
async def test_benq_codes_are_the_ones_benq_documents(profile: str, sims: Callable[..., Any],
                                                      open_panel: Opener) -> None:
    sim = await sims(profile)
    panel = await open_panel(profile, host="127.0.0.1", tcp_port=sim.port)
    await panel.request("power", {"state": "on"})
    for name in load_profile(profile).inputs:
        assert await panel.request("input", {"name": name}) == {"input": name}
    assert (await panel.request("get", {}))["input"] == name
    await panel.request("power", {"state": "standby"})
    assert sim.state["power"] == "002"  # BenQ's off; ViewSonic's 000 is refused with "-"


async def test_benq_education_models_answer_only_at_38400(sims: Callable[..., Any], open_panel: Opener,
                                                          host: WebHost) -> None:
    sim = await sims("benq-38400")
    path = await sim.start_pty(38400)
    panel = await open_panel("benq-38400", port=path)
    assert panel.status is Status.READY and panel.power == "standby"
    await panel.request("power", {"state": "on"})
    assert sim.awake
    await panel.stop()
    # The same panel asked at the RP654K's 9600 never answers.
    wrong = PanelDevice.from_config(DeviceConfig.model_validate(
        {"id": "panel-2", "kind": "panel", "profile": "benq", "port": path, "poll_s": 30}))
    await wrong.start(host)
    try:
        assert wrong.status is Status.FAULT
        with pytest.raises(RequestError) as silent:
            await wrong.request("power", {"state": "standby"})
        assert silent.value.code == "panel_not_responding"
    finally:
        await wrong.stop()
