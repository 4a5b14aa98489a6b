"""One QEMU guest per session, and a host broker the guest's daemon reaches through QEMU's NAT.

The broker runs on the host's loopback; the guest sees the host as 10.0.2.2 (QEMU user
networking), so the tests read MQTT with the same probe as everywhere else. A failed test gets the
tail of the guest's console and of the daemon's log in its report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import Mosquitto
from tests.vm import images
from tests.vm.daemon import GuestDaemon
from tests.vm.machine import Machine, boot

_machine: Machine | None = None


@pytest.fixture(scope="session")
def vm() -> Iterator[Machine]:
    global _machine
    try:
        built = images.build()
    except images.MissingPackages as exc:
        pytest.fail(str(exc), pytrace=False)
    machine = boot(built)
    _machine = machine
    print(f"\nvm: booted with {machine.accel} in {machine.boot_seconds:.1f}s")
    try:
        yield machine
    finally:
        _machine = None
        machine.stop()


@pytest.fixture
def vm_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    # One per test: retained state from an earlier test's daemon must not answer this one's waits.
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def guest_daemon(vm: Machine, vm_broker: Mosquitto) -> Iterator[GuestDaemon]:
    """A fresh `classroomd run` in the guest for one test; the test writes its config."""
    daemon = GuestDaemon(vm, vm_broker.port)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and _machine is not None and Path(item.path).is_relative_to(Path(__file__).parent):
        report.sections.append(("guest console (tail)", _machine.console_tail()))
        log = _machine.out / "daemon.log"
        if log.exists():
            report.sections.append(("guest daemon log (tail)", log.read_text(errors="replace")[-6000:]))
