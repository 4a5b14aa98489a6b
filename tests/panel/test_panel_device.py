"""PanelDevice over a real pseudo-terminal against the SMART 6000S simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.core.retry import RetryPolicy
from classroomd.devices import device_class
from classroomd.devices.base import RequestError, Status
from classroomd.devices.panel import PanelDevice
from classroomd.simulators.panel_smart import SmartPanelSim
from tests.panel.support import WebHost


def panel_config(port: str | None, **extra: Any) -> DeviceConfig:
    return DeviceConfig.model_validate({"id": "panel-1", "kind": "panel", "name": "Front panel", "port": port,
                                        "profile": "smart-6000", "poll_s": 0.2, **extra})


@pytest.fixture
async def open_panel(host: WebHost) -> AsyncIterator[Callable[..., Any]]:
    opened: list[PanelDevice] = []

    async def make(port: str | None, **extra: Any) -> PanelDevice:
        device = device_class("panel").from_config(panel_config(port, **extra))
        assert isinstance(device, PanelDevice)
        await device.start(host)
        opened.append(device)
        return device

    yield make
    for device in opened:
        await device.stop()


async def test_powers_on_from_standby_then_switches_input_and_volume(sim: SmartPanelSim, open_panel: Any) -> None:
    panel = await open_panel(sim.path)
    assert panel.status is Status.READY and panel.power == "standby"
    assert panel.snapshot()["vendor"] == "SMART Technologies"

    assert await panel.request("power", {"state": "on"}) == {"power": "on"}
    assert sim.state.power == "on"
    assert await panel.request("input", {"name": "HDMI1"}) == {"input": "hdmi1"}
    assert sim.state.input == "hdmi1"
    assert await panel.request("volume", {"level": 65}) == {"volume": 65}
    assert await panel.request("mute", {"on": True}) == {"mute": True}
    assert (sim.state.volume, sim.state.mute) == (65, True)
    assert await panel.request("get", {}) == {"power": "on", "input": "hdmi1", "volume": 65, "mute": True}
    assert sim.received[:2] == ["get powerstate", "set powerstate=on"]
    assert "set input=hdmi1" in sim.received and "set volume=65" in sim.received

    assert await panel.request("power", {"state": "standby"}) == {"power": "standby"}
    assert sim.state.power == "standby"


async def test_errors_are_clear(sim: SmartPanelSim, open_panel: Any) -> None:
    panel = await open_panel(sim.path)
    with pytest.raises(RequestError) as standby:
        await panel.request("input", {"name": "hdmi1"})
    assert standby.value.code == "panel_standby" and "switch it on first" in standby.value.message
    await panel.request("power", {"state": "on"})
    with pytest.raises(RequestError) as unknown:
        await panel.request("input", {"name": "scart"})
    assert unknown.value.code == "unknown_input" and "hdmi1" in unknown.value.message
    with pytest.raises(RequestError) as invalid:
        await panel.request("volume", {"level": 150})
    assert invalid.value.code == "invalid_arguments"

    sim.refuse_power_on = True
    sim.state.power = "standby"
    await panel.request("get", {})
    with pytest.raises(RequestError) as refused:
        await panel.request("power", {"state": "on"})
    assert refused.value.code == "panel_refused" and "invalid cmd" in refused.value.message
    assert panel.status is Status.READY  # a refusal is an answer: the panel is not faulty


async def test_garbage_replies_are_reported_not_believed(sim: SmartPanelSim, open_panel: Any) -> None:
    panel = await open_panel(sim.path, poll_s=60)
    await panel.request("power", {"state": "on"})
    sim.garbage = True
    with pytest.raises(RequestError) as garbled:
        await panel.request("volume", {"level": 10})
    assert "sent only" in garbled.value.message
    assert panel.volume is None


async def test_a_silent_panel_goes_fault_with_an_alert_and_recovers(
        sim: SmartPanelSim, open_panel: Any, host: WebHost) -> None:
    panel = await open_panel(sim.path)
    sim.responsive = False
    await host.wait_for(lambda: panel.status is Status.FAULT, timeout=10)
    assert "does not answer" in panel.reason and "get powerstate" in panel.reason
    severity, message = host.alerts[("panel-1", "not_responding")]
    assert severity == "warning" and "Front panel" in message.kk and message.ru and message.en
    assert panel.snapshot()["availability"] == "offline"

    sim.responsive = True
    await host.wait_for(lambda: panel.status is Status.READY, timeout=10)
    assert ("panel-1", "not_responding") not in host.alerts


async def test_a_panel_without_a_control_port_is_a_display(open_panel: Any) -> None:
    panel = await open_panel(None)
    assert panel.status is Status.READY and panel.snapshot()["control"] == "none"
    with pytest.raises(RequestError) as no_control:
        await panel.request("power", {"state": "on"})
    assert no_control.value.code == "no_control"


async def test_a_port_that_cannot_open_fails_start(open_panel: Any, tmp_path: Any) -> None:
    with pytest.raises(ConnectionError, match="cannot open"):
        await open_panel(str(tmp_path / "ttyUSB9"))


async def test_an_unknown_profile_is_the_start_failure_reason(sim: SmartPanelSim, open_panel: Any) -> None:
    with pytest.raises(ValueError, match="no panel profile 'smart-9000'"):
        await open_panel(sim.path, profile="smart-9000")


def test_options_are_checked_like_config() -> None:
    with pytest.raises(ValueError):
        PanelDevice.from_config(panel_config(None, poll_s=0))
    with pytest.raises(ValueError):
        PanelDevice.from_config(panel_config(None, colour="red"))


async def test_touch_on_the_panel_is_reported(open_panel: Any, host: WebHost, tmp_path: Any) -> None:
    from classroomd.drivers.evdev_input import (
        ABS_MT_SLOT,
        ABS_X,
        ABS_Y,
        BTN_TOUCH,
        EV_KEY,
        EV_SYN,
        INPUT_PROP_DIRECT,
        AbsRange,
        InputCaps,
        write_recording,
    )

    recording = tmp_path / "touch.json"
    caps = InputCaps(name="SMART Technologies Touch", keys={BTN_TOUCH}, props={INPUT_PROP_DIRECT},
                     abs={ABS_X: AbsRange(0, 32767), ABS_Y: AbsRange(0, 32767), ABS_MT_SLOT: AbsRange(0, 19)})
    write_recording(recording, caps, [(0.05, EV_KEY, BTN_TOUCH, 1), (0, EV_SYN, 0, 0),
                                      (0.05, EV_KEY, BTN_TOUCH, 0), (0, EV_SYN, 0, 0)])
    panel = await open_panel(None, touch=f"replay://{recording}")
    await host.wait_for(lambda: panel.state()["touch"]["touches"] >= 2)
    touch = panel.state()["touch"]
    assert touch["online"] and touch["contacts"] == 20 and touch["last_touch"]

    missing = await open_panel(None, touch=str(tmp_path / "event99"))
    assert missing.status is Status.READY  # a missing touchscreen is reported, not a fault
    assert missing.state()["touch"]["online"] is False and missing.state()["touch"]["problem"]


async def test_an_unplugged_adapter_makes_the_panel_fault(sim: SmartPanelSim, open_panel: Any, host: WebHost) -> None:
    panel = await open_panel(sim.path)
    await sim.close()  # the pty goes away as a USB adapter does
    await host.wait_for(lambda: panel.status is Status.FAULT, timeout=10)
    assert ("panel-1", "not_responding") in host.alerts


async def test_a_start_failure_keeps_its_reason_under_the_supervisor(host: WebHost, tmp_path: Any) -> None:
    from classroomd.daemon.supervisor import Supervisor

    panel = PanelDevice.from_config(panel_config(str(tmp_path / "ttyUSB7")))
    supervisor = Supervisor(host, RetryPolicy(5))
    supervisor.start(panel)
    await host.wait_for(lambda: panel.status is Status.FAULT)
    await supervisor.stop(panel)
    assert panel.status is Status.FAULT and "cannot open" in panel.reason
