"""A device that cannot be opened is reported with its reason and retried; the daemon carries on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classroomd.daemon.supervisor import Supervisor
from classroomd.devices.base import Device, DeviceInfo, Kind, Status
from tests.support.host import RecordingHost


class Flaky(Device):
    kind = Kind.PRINTER

    def __init__(self, failures: int) -> None:
        super().__init__(DeviceInfo(id="printer-1", kind=Kind.PRINTER, name="Printer"))
        self.failures = failures
        self.attempts = 0
        self.stops = 0

    async def start(self, host: Any) -> None:
        await super().start(host)
        self.attempts += 1
        if self.attempts <= self.failures:
            raise PermissionError("/dev/ttyACM0: permission denied; add the daemon's user to 'dialout'")
        self.set_status(Status.READY)

    async def stop(self) -> None:
        self.stops += 1


async def test_failed_start_is_reported_and_retried(tmp_path: Path) -> None:
    host = RecordingHost(tmp_path)
    supervisor = Supervisor(host, retry_min_s=0.05, retry_max_s=0.2)
    device = Flaky(failures=2)
    statuses: list[tuple[Status, str]] = []
    original = device.changed

    def record() -> None:
        statuses.append((device.status, device.reason))
        original()

    device.changed = record  # type: ignore[method-assign]
    supervisor.start(device)
    await host.wait_for(lambda: device.status is Status.READY, timeout=5)
    assert device.attempts == 3
    assert statuses[0] == (Status.FAULT, "/dev/ttyACM0: permission denied; add the daemon's user to 'dialout'")
    assert device.stops == 2, "a failed start is cleaned up before the next try"
    await supervisor.stop(device)
    assert device.stops == 3


async def test_stop_cancels_pending_retries(tmp_path: Path) -> None:
    host = RecordingHost(tmp_path)
    supervisor = Supervisor(host, retry_min_s=30, retry_max_s=60)
    device = Flaky(failures=100)
    supervisor.start(device)
    await host.wait_for(lambda: device.status is Status.FAULT, timeout=5)
    await supervisor.stop(device)
    assert device.attempts == 1
