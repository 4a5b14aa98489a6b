"""The demo's printer: the Marlin simulator on a pty, opened by the ordinary printer device and driver."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from classroomd.config.schema import DeviceConfig
from classroomd.simulators.base import DemoDevice
from classroomd.simulators.marlin_firmware import FirmwareProfile, MarlinSimulator

log = logging.getLogger("classroomd.demo")


def vase_gcode(turns: int = 12, segments: int = 120) -> str:
    """A small spiral vase, as a slicer would write it: heat, home, short segments, M73 progress."""
    lines = ["; classroomd demo: a 12 mm spiral vase", "M73 P0 R2", "M140 S60", "M104 S215", "G28",
             "M190 S60", "M109 S215", "G92 E0", "G1 Z0.2 F600"]
    total = turns * segments
    for i in range(total):
        if i % (total // 10) == 0 and i:
            lines.append(f"M73 P{100 * i // total} R{round(2 * (total - i) / total)}")
        angle = 2 * math.pi * i / segments
        radius = 20 + 3 * math.sin(math.pi * i / total)
        lines.append(f"G1 X{100 + radius * math.cos(angle):.3f} Y{100 + radius * math.sin(angle):.3f} "
                     f"Z{0.2 + i * 0.2 / segments:.3f} E{i * 0.035:.4f} F1500")
    lines += ["M73 P100 R0", "M104 S0", "M140 S0", "G1 Z40 F600", "M84"]
    return "\n".join(lines) + "\n"


async def start_demo(workdir: Path) -> DemoDevice:
    workdir.mkdir(parents=True, exist_ok=True)
    sample = workdir / "demo-vase.gcode"
    sample.write_text(vase_gcode())
    # A tenth of real motion time: a demo print moves visibly but ends within a lesson's attention span.
    sim = MarlinSimulator(FirmwareProfile(baud=115200, motion_scale=0.1, machine_type="Prusa MK4 (demo)"))
    port = await sim.start()
    log.info("demo printer on %s", port)
    config = DeviceConfig(id="printer-1", kind="printer", name="Demo Prusa MK4", port=port, baud=115200,
                          reset_wait_s=1.0)
    return DemoDevice(config=config, close=sim.close,
                      try_args=["print", str(sample), "--printer", config.id, "--bed-clear", "--wait"])
