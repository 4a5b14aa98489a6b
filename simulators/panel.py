"""The demo classroom's interactive panel: a SMART 6000S simulator on a pty, starting in standby."""

from __future__ import annotations

from pathlib import Path

from classroomd.config.schema import DeviceConfig
from classroomd.simulators.base import DemoDevice
from classroomd.simulators.panel_smart import SmartPanelSim, SmartPanelState


async def start_demo(workdir: Path) -> DemoDevice:
    workdir.mkdir(parents=True, exist_ok=True)
    # A short boot makes the demo's first push show the power step doing real work.
    sim = await SmartPanelSim(SmartPanelState(power="standby", input="hdmi2"), boot_s=0.5).start()
    config = DeviceConfig.model_validate({
        "id": "panel-1", "kind": "panel", "name": "Demo SMART panel", "port": sim.path,
        "profile": "smart-6000", "input": "hdmi1", "poll_s": 5,
    })
    return DemoDevice(config=config, close=sim.close)
