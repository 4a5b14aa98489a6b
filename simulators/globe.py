"""A smart globe speaking classroomd's default globe profile over a pty.

It writes a banner, then `TOUCH <hex code>` lines as a pupil's pen would;
tests call `touch()` to press a region themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import tty
from pathlib import Path

from classroomd.config.schema import DeviceConfig
from classroomd.core.vocabulary import Kind
from classroomd.drivers.globe_protocol import load_profile
from classroomd.simulators.base import DemoDevice


class GlobeSimulator:
    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        # Keep the slave open so the pty does not hang up between the daemon's reopenings.
        self._slave = slave
        os.set_blocking(self.master, False)
        self._task: asyncio.Task[None] | None = None

    def write(self, line: str) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self.master, line.encode("ascii") + b"\r\n")

    def touch(self, code: int) -> None:
        self.write(f"TOUCH {code:02X}")

    def banner(self) -> None:
        self.write("GLOBE v1.0 READY")

    def start_wandering(self, every_s: float = 6.0) -> None:
        """Touch a random region now and then, as a class exploring the globe."""
        codes = [int(c, 16) for c in load_profile("default").regions]

        async def wander() -> None:
            rng = random.Random(7)
            while True:
                await asyncio.sleep(every_s)
                self.touch(rng.choice(codes))
                self._drain_echo()

        self._task = asyncio.create_task(wander(), name="globe-sim")

    def _drain_echo(self) -> None:
        # The daemon never writes to the globe, but a stray write must not fill the pty.
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self.master, 4096)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


async def start_demo(workdir: Path) -> DemoDevice:
    sim = GlobeSimulator()
    sim.banner()
    sim.start_wandering()
    config = DeviceConfig.model_validate({"id": "globe-1", "kind": Kind.GLOBE, "name": "Demo smart globe",
                                          "port": sim.path, "profile": "default", "panel": "panel-1"})
    return DemoDevice(config, sim.close, handle=sim)
