"""A DeviceHost that records what devices report, for device-level tests.

It stands in for the daemon (not for hardware): device tests drive real
drivers and simulators and read back what the device told its host.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classroomd.core.retry import RetryPolicy
from classroomd.daemon.supervisor import Supervisor
from classroomd.devices.base import Device, DeviceHost, Lesson, Localized, Priority


@dataclass
class RecordedEvent:
    device: str
    name: str
    data: dict[str, Any]
    priority: Priority


@dataclass
class RecordingHost(DeviceHost):
    root: Path
    base_url: str = "http://127.0.0.1:8080"
    current_lesson: Lesson | None = None
    events: list[RecordedEvent] = field(default_factory=list)
    alerts: dict[tuple[str, str], tuple[str, Localized]] = field(default_factory=dict)
    state_changes: int = 0
    devices: dict[str, Device] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    #: Whether a lost device is reopened (through the daemon's own Supervisor), and how fast.
    reopen: bool = False
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(0.05, 0.5))
    lost: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _supervisor: Supervisor | None = None

    @property
    def state_dir(self) -> Path:
        return self.root

    @property
    def http_base(self) -> str:
        return self.base_url

    @property
    def lesson(self) -> Lesson | None:
        return self.current_lesson

    @property
    def retry_policy(self) -> RetryPolicy:
        return self.retry

    def device_lost(self, device: Device) -> None:
        self.lost.append(device.id)
        self._changed.set()
        if self.reopen:
            if self._supervisor is None:
                self._supervisor = Supervisor(self, self.retry)
            self._supervisor.recover(device)

    async def close(self) -> None:
        """Stop reopening (a test ends): nothing keeps trying after the devices are stopped."""
        if self._supervisor is not None:
            await self._supervisor.cancel_all()

    def state_changed(self, device: Device) -> None:
        self.state_changes += 1
        self._changed.set()

    def emit(
        self, device: Device, name: str, data: Mapping[str, Any], priority: Priority = Priority.EVENT
    ) -> None:
        self.events.append(RecordedEvent(device.id, name, dict(data), priority))
        self._changed.set()

    def alert(self, device: Device, code: str, severity: str, message: Localized) -> None:
        self.alerts[(device.id, code)] = (severity, message)
        self._changed.set()

    def clear_alert(self, device: Device, code: str) -> None:
        self.alerts.pop((device.id, code), None)

    def device(self, device_id: str) -> Device | None:
        return self.devices.get(device_id)

    @property
    def media(self) -> Any:
        if "media" not in self.services:
            from classroomd.services.media import MediaStore

            self.services["media"] = MediaStore(self.root / "media")
        return self.services["media"]

    @property
    def uploads(self) -> Any:
        if "uploads" not in self.services:
            from classroomd.services.uploads import UploadStore

            self.services["uploads"] = UploadStore(self.root / "uploads")
        return self.services["uploads"]

    @property
    def board(self) -> Any:
        if "board" not in self.services:
            from classroomd.services.board_hub import BoardHub

            self.services["board"] = BoardHub(self.root / "board")
        return self.services["board"]

    def named(self, name: str) -> list[RecordedEvent]:
        return [e for e in self.events if e.name == name]

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        """Wait until predicate() is true, re-checking on every report."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.1)
