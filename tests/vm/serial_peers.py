"""What sits behind the guest's USB-serial bridges, on the host: a pty QEMU opens as the chardev of
an emulated FTDI (`usb-serial`), with the Marlin simulator or a silent listener on the other side."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import tty
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from classroomd.simulators.marlin_firmware import FirmwareProfile, MarlinSimulator
from tests.vm.machine import GuestError, Machine

T = TypeVar("T")


class Listener:
    """A pty nothing answers on: every byte the guest sends to the bridge is kept."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        # QEMU holds the slave open; closing ours keeps the master readable only for guest bytes.
        self._slave = slave
        os.set_blocking(self.master, False)
        self.received = bytearray()

    def read(self) -> bytes:
        try:
            while chunk := os.read(self.master, 4096):
                self.received += chunk
        except (BlockingIOError, OSError):
            pass
        return bytes(self.received)

    def close(self) -> None:
        os.close(self.master)
        os.close(self._slave)


class MarlinBoard:
    """The Marlin simulator on its own event loop in a thread, for a test that is not async."""

    def __init__(self, **profile: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="marlin-sim")
        self.thread.start()
        # No pacing: the guest's ftdi_sio is already slow under emulation, and QEMU does not enforce a baud.
        self.sim = MarlinSimulator(FirmwareProfile(**{"baud": 0, "boot_delay_s": 0.05, **profile}))
        self.port = self.call(self.sim.start())

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.call(self.sim.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def attach(machine: Machine, chardev: str, pty: str) -> None:
    """A chardev QEMU opens on the pty, for a `usb-serial` device to use."""
    assert machine.qmp is not None
    machine.qmp.execute("chardev-add", id=chardev,
                        backend={"type": "serial", "data": {"device": pty}})


def detach(machine: Machine, chardev: str, timeout: float = 20.0) -> None:
    """Remove the chardev once QEMU has finished with the device that used it."""
    assert machine.qmp is not None
    deadline = time.monotonic() + timeout
    while True:
        try:
            machine.qmp.execute("chardev-remove", id=chardev)
            return
        except GuestError as exc:
            # device_del returns before the USB device's teardown lets go of its chardev.
            if "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def plug_bridge(machine: Machine, dev_id: str, chardev: str, serial: str) -> None:
    # always-plugged: a tty chardev sends QEMU no "opened" event, and without one the bridge would
    # never be attached to the bus.
    machine.plug("usb-serial", dev_id, chardev=chardev, serial=serial, **{"always-plugged": True})
