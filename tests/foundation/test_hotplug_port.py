"""A USB serial device is announced before its tty node exists: it waits for the node, it is not a fault."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from classroomd.core.vocabulary import Kind, Status
from classroomd.daemon.hotplug import WAITING_FOR_PORT
from classroomd.devices.base import DeviceInfo
from classroomd.simulators.marlin_firmware import MarlinSimulator
from tests.printer.support import profile
from tests.support.mosquitto import Mosquitto


async def test_a_printer_waits_for_its_tty_then_starts_on_it(mosquitto: Mosquitto, make_agent: Any) -> None:
    agent = await make_agent(mosquitto.url)
    usb_side = DeviceInfo(id="printer-1a86-7523-a1", kind=Kind.PRINTER, name="CH340 printer", transport="serial",
                          vid=0x1A86, pid=0x7523, serial="a1", matched_by="catalog")
    agent.hotplug.found(usb_side)
    printer = agent.registry.get(usb_side.id)
    assert printer is not None
    statuses: list[Status] = []
    set_status = printer.set_status
    printer.set_status = lambda status, reason="": (statuses.append(status), set_status(status, reason))[1]  # type: ignore[method-assign]
    await asyncio.sleep(0.5)  # long enough for a start to have failed, had one been tried
    assert (printer.status, printer.reason) == (Status.OFFLINE, WAITING_FOR_PORT)
    assert Status.FAULT not in statuses

    board = MarlinSimulator(profile(motion_scale=0.0, heat_rate_c_s=200.0))
    await board.start()
    try:
        # The tty driver has bound: discovery reports the same device with its node.
        agent.hotplug.found(dataclasses.replace(usb_side, paths=[board.port], options={"baud": 115200}))
        for _ in range(200):
            started = agent.registry.get(usb_side.id)
            if started is not None and started.status is Status.READY:
                break
            await asyncio.sleep(0.05)
        assert started is not None and started.status is Status.READY, (started.status, started.reason)
    finally:
        await board.close()
