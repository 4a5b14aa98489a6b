"""Helpers for the printer tests: a simulated board on a pty, opened by the real driver."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from classroomd.config.schema import DeviceConfig
from classroomd.drivers.marlin import MarlinPort, MarlinSettings
from classroomd.drivers.serial_link import SerialLink, SerialSettings
from classroomd.simulators.marlin_firmware import FirmwareProfile, MarlinSimulator

FAST = {"baud": 0, "motion_scale": 0.0, "boot_delay_s": 0.01}


def profile(**over: Any) -> FirmwareProfile:
    return FirmwareProfile(**{**FAST, **over})


@contextlib.asynccontextmanager
async def simulator(**over: Any) -> AsyncIterator[MarlinSimulator]:
    sim = MarlinSimulator(profile(**over))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.close()


@contextlib.asynccontextmanager
async def connected(sim: MarlinSimulator, **settings: Any) -> AsyncIterator[MarlinPort]:
    port = MarlinPort(SerialLink(sim.port, SerialSettings(baud=115200)),
                      MarlinSettings(**{"reset_wait_s": 1.0, "timeout_s": 1.0, **settings}))
    await port.connect()
    try:
        yield port
    finally:
        await port.close()


def moves(count: int) -> list[str]:
    """Short segments, as a vase-mode print has: one line every fraction of a millimetre."""
    return [f"G1 X{50 + (i * 7) % 100 / 10:.2f} Y{50 + (i * 3) % 100 / 10:.2f} E{i * 0.0123:.4f}"
            for i in range(count)]


def write_gcode(path: Path, commands: list[str], header: str = "; generated for a test\n") -> Path:
    path.write_text(header + "".join(f"{c} ; comment\n" if i % 50 == 0 else f"{c}\n"
                                     for i, c in enumerate(commands)))
    return path


def printer_config(sim: MarlinSimulator, device_id: str = "printer-1", **extra: Any) -> DeviceConfig:
    options = {"reset_wait_s": 1.0, "timeout_s": 1.0, "progress_interval_s": 0.05, **extra}
    return DeviceConfig(id=device_id, kind="printer", name="Test printer", port=sim.port, baud=115200, **options)
