"""Discovered devices in the agent's registry: plugged in, replugged, unplugged.

Discovery (`daemon/discovery.py`) says what is on the PC; this module decides
what the agent does about it, so the agent itself stays about lifecycle.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from classroomd import __version__
from classroomd.config.schema import DeviceConfig
from classroomd.devices import device_class
from classroomd.devices.base import DeviceInfo, Status

if TYPE_CHECKING:
    from classroomd.daemon.agent import Agent
    from classroomd.daemon.discovery import Discovery
    from classroomd.daemon.mdns import Announcer

log = logging.getLogger("classroomd.hotplug")

#: Reason given to devices discovery lists but classroomd does not drive (yet).
LISTED_ONLY = "listed by discovery; not driven by classroomd"
#: A serial device whose USB side has appeared but whose tty node has not (yet).
WAITING_FOR_PORT = "waiting for its serial port to appear"


def _same_node(a: list[str], b: list[str]) -> bool:
    return bool(a and b) and os.path.realpath(a[0]) == os.path.realpath(b[0])


class HotPlug:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.discovery: Discovery | None = None
        self.announcer: Announcer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # Imported here: pyudev and zeroconf cost memory a daemon with both switched off should not pay.
        config = self.agent.config
        if config.agent.discovery:
            from classroomd.daemon.catalog import Catalog
            from classroomd.daemon.discovery import Discovery

            self.discovery = Discovery(Catalog.load(), config, self.found, self.lost, network=config.agent.mdns)
            await self.discovery.start()
        port = urlsplit(self.agent.http_base).port
        if config.agent.mdns and port is not None:
            from classroomd.daemon.mdns import Announcer

            self.announcer = Announcer(config.site, config.room, __version__, port)
            await self.announcer.start()

    async def stop(self) -> None:
        if self.discovery is not None:
            await self.discovery.stop()
        if self.announcer is not None:
            await self.announcer.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def rescan(self) -> None:
        if self.discovery is not None:
            self.discovery.rescan()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def found(self, info: DeviceInfo) -> None:
        """A device appeared, came back after a replug, or now has other nodes."""
        from classroomd.daemon.discovery import device_config_for

        agent = self.agent
        discovered = device_config_for(info)
        configured = next((d for d in agent.config.devices if d.id == info.id), None)
        entry = discovered if configured is None else configured.model_copy(update={
            "port": configured.port or discovered.port, "source": configured.source or discovered.source,
            "baud": configured.baud or discovered.baud})
        old = agent.registry.get(info.id)
        if old is None:
            self._add(entry, info)
            return
        if old.status is not Status.LOST and _same_node(old.info.paths, info.paths):
            old.info.matched_by = info.matched_by  # discovery confirms a running device: leave it be
            return

        async def replace() -> None:
            await agent.supervisor.stop(old)
            agent.registry.remove(old.id)
            self._add(entry, info)

        self._spawn(replace(), f"replug-{info.id}")

    def _add(self, entry: DeviceConfig, info: DeviceInfo) -> None:
        agent = self.agent
        try:
            device = device_class(entry.kind).from_config(entry, found=info)
        except Exception as exc:  # a kind that cannot take this device must not stop discovery
            log.error("cannot set up discovered device: %s", exc, extra={"device": info.id})
            return
        agent.registry.add(device)
        status, reason = info.options.get("status"), str(info.options.get("reason", ""))
        if status == "unidentified":  # a printer port that did not answer M115: listed, never driven
            device.set_status(Status.UNIDENTIFIED, reason)
        elif info.transport == "network" or info.options.get("role") == "touch":
            device.set_status(Status.OFFLINE, LISTED_ONLY)
        elif info.transport == "serial" and not entry.port:
            # The USB device is announced before its tty driver (ftdi_sio, cdc_acm) has made the node,
            # about half a second later; started now it would be a `fault` for want of a port.
            device.set_status(Status.OFFLINE, WAITING_FOR_PORT)
        else:
            agent.supervisor.start(device)  # a node without permission ends as `fault` with the reason

    def lost(self, device_id: str) -> None:
        """Unplugged: stopped and kept in the inventory as lost, never silently gone."""
        device = self.agent.registry.get(device_id)
        if device is None:
            return

        async def lose() -> None:
            await self.agent.supervisor.stop(device)
            device.set_status(Status.LOST, "unplugged")

        self._spawn(lose(), f"lost-{device_id}")
