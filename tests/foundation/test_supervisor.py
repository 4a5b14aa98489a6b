"""A device that cannot be opened is reported with its reason and retried; the daemon carries on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classroomd.core.retry import RetryPolicy
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
    supervisor = Supervisor(host, RetryPolicy(0.05, 0.2))
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
    supervisor = Supervisor(host, RetryPolicy(30, 60))
    device = Flaky(failures=100)
    supervisor.start(device)
    await host.wait_for(lambda: device.status is Status.FAULT, timeout=5)
    await supervisor.stop(device)
    assert device.attempts == 1


class Pluggable(Device):
    """A device whose hardware a test plugs and unplugs."""

    kind = Kind.GLOBE

    def __init__(self) -> None:
        super().__init__(DeviceInfo(id="globe-1", kind=Kind.GLOBE, name="Globe"))
        self.present = True
        self.opens = 0

    async def start(self, host: Any) -> None:
        await super().start(host)
        if not self.present:
            raise OSError("/dev/ttyUSB0: no such device")
        self.opens += 1
        self.set_status(Status.READY)

    def unplug(self) -> None:
        self.present = False
        self.lost("the globe went away")


async def test_a_lost_device_is_reopened_by_the_supervisor_with_back_off(tmp_path: Path) -> None:
    host = RecordingHost(tmp_path)
    supervisor = Supervisor(host, RetryPolicy(0.05, 0.1))
    host.device_lost = supervisor.recover  # type: ignore[method-assign]
    device = Pluggable()
    supervisor.start(device)
    await host.wait_for(lambda: device.status is Status.READY, timeout=5)
    device.unplug()
    assert device.status is Status.LOST
    await host.wait_for(lambda: device.reason == "/dev/ttyUSB0: no such device", timeout=5)
    assert device.status is Status.LOST, "hardware that was there and went away is lost, not faulty"
    device.present = True
    await host.wait_for(lambda: device.status is Status.READY, timeout=5)
    assert device.opens == 2
    await supervisor.stop(device)


def test_the_policy_doubles_up_to_its_ceiling_with_a_little_jitter() -> None:
    delays = RetryPolicy(2, 30).delays()
    got = [next(delays) for _ in range(7)]
    for value, nominal in zip(got, [2, 4, 8, 16, 30, 30, 30], strict=True):
        assert nominal * 0.9 <= value <= nominal * 1.1
