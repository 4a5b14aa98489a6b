"""The demo classroom: one simulated device of every kind, opened by the real device classes."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from classroomd.devices.kinds import specs
from classroomd.simulators.base import DemoDevice

log = logging.getLogger("classroomd.demo")

# kind -> (module, function); each returns a DemoDevice whose config entry points
# the ordinary device class at a simulator (a pty, a TCP port, a looped video).


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
    for spec in specs():
        kind = str(spec.kind)
        if kind in skip_kinds or spec.simulator is None:
            continue
        module_name, _, function = spec.simulator.partition(":")
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


class SimulatorsFailed(RuntimeError):
    """The simulator process exited or never announced its devices."""


class SimulatorProcess:
    """`classroomd simulate` as a child of the demo agent: the agent alone in its own process."""

    def __init__(self, workdir: Path, skip_kinds: set[str]) -> None:
        self.workdir = workdir
        self.skip_kinds = skip_kinds
        self.devices: list[DemoDevice] = []
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 60.0) -> list[DemoDevice]:
        from classroomd.config.schema import DeviceConfig

        self.workdir.mkdir(parents=True, exist_ok=True)
        announcement = self.workdir / "devices.json"
        announcement.unlink(missing_ok=True)
        skips = [arg for kind in sorted(self.skip_kinds) for arg in ("--skip", kind)]
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "classroomd", "simulate", "--workdir", str(self.workdir), *skips,
            # Its own session: Ctrl+C reaches the agent, which then stops the simulators in order.
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not announcement.exists():
            if self._proc.returncode is not None or time.monotonic() > deadline:
                await self.close()
                raise SimulatorsFailed(f"the demo simulators did not start (see the log; exit {self._proc.returncode})")
            await asyncio.sleep(0.1)
        for entry in json.loads(announcement.read_text()):
            self.devices.append(DemoDevice(DeviceConfig.model_validate(entry["config"]), _nothing,
                                           try_args=list(entry.get("try_args", []))))
        return self.devices

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _nothing() -> None:
    return None
