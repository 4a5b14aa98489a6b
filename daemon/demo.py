"""The demo classroom: one simulated device of every kind, opened by the real device classes."""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

from classroomd.simulators.base import DemoDevice

log = logging.getLogger("classroomd.demo")

# kind -> (module, function); each returns a DemoDevice whose config entry points
# the ordinary device class at a simulator (a pty, a TCP port, a looped video).
SIMULATORS: dict[str, tuple[str, str]] = {
    "panel": ("classroomd.simulators.panel", "start_demo"),
    "microscope": ("classroomd.simulators.microscope", "start_demo"),
    "tablet": ("classroomd.simulators.input", "start_demo_tablet"),
    "touch_table": ("classroomd.simulators.input", "start_demo_touch_table"),
    "globe": ("classroomd.simulators.globe", "start_demo"),
    "printer": ("classroomd.simulators.printer", "start_demo"),
}


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "classroomd-demo"


def demo_defaults() -> dict[str, Any]:
    """What `run --demo` uses for every key the config file (if any) leaves out."""
    return {
        "site": "demo-school",
        "room": "demo-room",
        "mqtt": {"url": "embedded://127.0.0.1:1883"},
        # The demo is the simulated classroom only; turn discovery on in a config file to add real devices.
        "agent": {"state_dir": str(default_state_dir()), "health_interval_s": 10, "discovery": False, "mdns": False},
        "http": {"listen": "127.0.0.1:8080"},
    }


async def start_simulators(workdir: Path, skip_kinds: set[str]) -> list[DemoDevice]:
    workdir.mkdir(parents=True, exist_ok=True)
    started: list[DemoDevice] = []
    for kind, (module_name, function) in SIMULATORS.items():
        if kind in skip_kinds:
            continue
        try:
            start = getattr(importlib.import_module(module_name), function)
            started.append(await start(workdir / kind))
        except Exception as exc:
            log.error("demo %s simulator did not start: %s", kind, exc)
    return started


async def stop_simulators(sims: list[DemoDevice]) -> None:
    for sim in sims:
        try:
            await sim.close()
        except Exception as exc:
            log.warning("demo simulator %s did not stop cleanly: %s", sim.config.id, exc)
