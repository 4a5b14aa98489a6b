"""A seventh device kind, defined only here: a school data logger (temperature probe) on a USB-serial line.

It proves a kind is one module plus data: importing this module registers the kind, its device
class, its demo simulator and its catalog rule; nothing in the project names it. The logger prints
one reading per line, `T=23.45`, and answers `R` with the current reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path
from typing import Any

from classroomd.config.schema import DeviceConfig
from classroomd.core.vocabulary import Kind
from classroomd.devices.base import Device, DeviceHost, NoArgs, Property, RequestError, Status, action
from classroomd.devices.kinds import KindSpec, register
from classroomd.drivers.serial_link import LinkClosed, SerialLink, SerialSettings
from classroomd.simulators.base import DemoDevice

DATA_LOGGER = Kind.register("data_logger")
#: Ids of the test's made-up logger (vendor 0x16d0 lends product ids to small makers).
VID, PID = 0x16D0, 0x0F1E


class DataLoggerDevice(Device):
    kind = DATA_LOGGER

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.link: SerialLink | None = None
        self.celsius: float | None = None
        self.readings = 0
        self._reader: asyncio.Task[None] | None = None

    async def start(self, host: DeviceHost) -> None:
        await super().start(host)
        port = (self.config.port if self.config else None) or (self.info.paths[0] if self.info.paths else None)
        if not port:
            raise RuntimeError("a data logger needs `port`")
        self.link = SerialLink(port, SerialSettings(baud=9600))
        await self.link.open()
        self.set_status(Status.READY)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.link is not None
        try:
            while True:
                line = (await self.link.readline(b"\n")).decode("ascii", "replace").strip()
                if line.startswith("T="):
                    self.celsius = float(line[2:])
                    self.readings += 1
                    self.changed()
        except (LinkClosed, OSError) as exc:
            self.lost(str(exc) or "the logger went away")

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.link is not None:
            await self.link.close()
            self.link = None

    def properties(self) -> dict[str, Property]:
        return {"celsius": Property("number", unit="°C"), "readings": Property("integer")}

    def state(self) -> dict[str, Any]:
        return {"celsius": self.celsius, "readings": self.readings}

    @action("sample", NoArgs, "The latest temperature reading.")
    async def sample(self, _args: NoArgs) -> dict[str, Any]:
        if self.celsius is None:
            raise RequestError("no_reading", "the logger has not sent a reading yet")
        return {"celsius": self.celsius}


class LoggerSimulator:
    """The logger's end of a pty: a reading every `every_s`."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.celsius = 21.5
        self._task: asyncio.Task[None] | None = None

    def start(self, every_s: float = 0.1) -> None:
        async def tick() -> None:
            while True:
                os.write(self.master, f"T={self.celsius:.2f}\r\n".encode())
                await asyncio.sleep(every_s)

        self._task = asyncio.create_task(tick())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


async def start_demo(workdir: Path) -> DemoDevice:
    sim = LoggerSimulator()
    sim.start()
    config = DeviceConfig(id="logger-1", kind=DATA_LOGGER, name="Demo data logger", port=sim.path)
    return DemoDevice(config, sim.close, handle=sim)


SPEC = register(KindSpec(
    DATA_LOGGER,
    device="tests.kinds.data_logger:DataLoggerDevice",
    simulator="tests.kinds.data_logger:start_demo",
    catalog_rules=({"id": "test-data-logger", "bus": "usb", "vid": f"{VID:04x}", "pid": f"{PID:04x}",
                    "kind": "data_logger", "vendor": "Test Lab", "model": "T-probe logger"},),
))
