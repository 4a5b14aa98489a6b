"""A board page stand-in that keeps every message, and a pen that is only a tablet by kind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from classroomd.devices.base import Device, DeviceInfo, Kind, Status
from classroomd.services.board_hub import BoardHub


@dataclass
class RecordingBoard:
    """What board.js does with the hub's messages: shows are acknowledged, everything is kept."""

    hub: BoardHub
    panel: str = "panel-1"
    messages: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def start(self) -> RecordingBoard:
        connection = self.hub.attach(self.panel)

        async def page() -> None:
            while True:
                message = await connection.outgoing.get()
                self.messages.append(message)
                if message["type"] == "show":
                    self.hub.received(connection, {"type": "ack", "id": message["id"]})

        self.task = asyncio.create_task(page())
        return self

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def shown(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.of("show")]

    async def until(self, check: Callable[[], object], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                await asyncio.sleep(0.02)


class Pen(Device):
    """A tablet as far as the panel is concerned: a kind, an id, and ink it sends through the hub."""

    kind = Kind.TABLET

    def __init__(self, device_id: str = "tablet-1") -> None:
        super().__init__(DeviceInfo(id=device_id, kind=Kind.TABLET, name="Pupil's tablet", transport="sim"))

    async def start(self, host: Any) -> None:
        await super().start(host)
        self.set_status(Status.READY)

    def draw(self, panel: str = "panel-1") -> int:
        return self.host.board.send(panel, {"type": "ink", "source": self.id, "strokes": [
            {"points": [[0.1, 0.1, 0.5], [0.2, 0.2, 0.5]], "color": "#e53935", "width": 4}]})
