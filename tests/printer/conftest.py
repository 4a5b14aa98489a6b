from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from classroomd.devices.base import Lesson
from classroomd.devices.printer import PrinterDevice
from classroomd.simulators.marlin_firmware import MarlinSimulator
from tests.printer.support import printer_config, profile
from tests.support.host import RecordingHost


@pytest.fixture
async def sim() -> AsyncIterator[MarlinSimulator]:
    board = MarlinSimulator(profile(motion_scale=0.0, heat_rate_c_s=200.0))
    await board.start()
    yield board
    await board.close()


@pytest.fixture
def host(tmp_path: Path) -> RecordingHost:
    return RecordingHost(tmp_path / "state", current_lesson=Lesson(id="lesson-7", subject="Физика",
                                                                   teacher="Айгүл Серікқызы"))


@pytest.fixture
async def make_printer(sim: MarlinSimulator, host: RecordingHost) -> AsyncIterator[Callable[..., Any]]:
    printers: list[PrinterDevice] = []

    async def make(**options: Any) -> PrinterDevice:
        printer = PrinterDevice.from_config(printer_config(sim, **options))
        await printer.start(host)
        printers.append(printer)
        return printer

    yield make
    for printer in printers:
        await printer.stop()
