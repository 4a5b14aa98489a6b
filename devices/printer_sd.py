"""A printer's jobs from its SD card: where a job runs from, the card job's steps, and its messages.

The printer device (`devices/printer.py`) keeps one job model; this module holds what
differs when the card is used: the choice (`print_from`), the upload, the follow-up by
`M27`, and the words a teacher reads when the card refuses a job.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable
from datetime import UTC, datetime

from classroomd.core.vocabulary import Lesson, Localized
from classroomd.drivers import marlin_sd
from classroomd.drivers.marlin import MarlinPort
from classroomd.drivers.marlin_protocol import FirmwareInfo
from classroomd.services.print_jobs import Gcode


def lesson_seconds_left(lesson: Lesson | None, lesson_min: float) -> float | None:
    if lesson is None or not lesson.started:
        return None
    try:
        started = datetime.fromisoformat(lesson.started.replace("Z", "+00:00"))
    except ValueError:
        return None
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return lesson_min * 60.0 - (datetime.now(UTC) - started).total_seconds()


def choose_source(print_from: str, firmware: FirmwareInfo, gcode: Gcode, sd_above_min: float,
                  seconds_left: float | None) -> str:
    """`stream` or `sd`. `auto` takes the card for a job that would outlast the lesson or `sd_above_min`:
    a streamed print dies with the PC, and a short one is not worth the upload's wait."""
    if print_from == "stream" or not firmware.cap("SDCARD"):
        return "stream"
    if print_from == "sd":
        return "sd"
    estimate = gcode.estimate_s
    if estimate is None:
        return "stream"
    if estimate > sd_above_min * 60.0 or (seconds_left is not None and estimate > seconds_left):
        return "sd"
    return "stream"


def card_message(code: str, detail: str) -> Localized:
    """What the teacher reads when a card job cannot start; `detail` is the printer's own account."""
    if code == "no_card":
        return Localized(
            kk=f"Принтерде SD картасы жоқ немесе оқылмайды; басып шығару басталған жоқ. ({detail})",
            ru=f"В принтере нет SD-карты или она не читается; печать не начата. ({detail})",
            en=f"The printer has no SD card, or cannot read it; nothing was started. ({detail})")
    if code == "card_full":
        return Localized(
            kk=f"Принтердің SD картасы толы; басып шығару басталған жоқ. Картадан ескі файлдарды өшіріңіз. ({detail})",
            ru=f"SD-карта принтера заполнена; печать не начата. Удалите с карты старые файлы. ({detail})",
            en=f"The printer's SD card is full; nothing was started. Delete old files from the card. ({detail})")
    if code == "card_print_stopped":
        return Localized(
            kk=f"Принтер картадан басып шығаруды өзі тоқтатты (мәзір немесе карта қатесі). ({detail})",
            ru=f"Принтер сам прекратил печать с карты (меню принтера или ошибка карты). ({detail})",
            en=f"The printer stopped printing from its card by itself (its menu or a card error). ({detail})")
    return Localized(
        kk=f"Файлды принтердің SD картасына жазу сәтсіз аяқталды; басып шығару басталған жоқ. ({detail})",
        ru=f"Не удалось записать файл на SD-карту принтера; печать не начата. ({detail})",
        en=f"Writing the file to the printer's SD card failed; nothing was started. ({detail})")


class CardJob:
    """One job's life on the card: upload and check, start, then follow `M27` to the end."""

    def __init__(self, port: MarlinPort, gcode: Gcode | None, poll_s: float) -> None:
        self.port = port
        self.gcode = gcode
        self.poll_s = poll_s
        self.offsets = marlin_sd.card_offsets(gcode.commands) if gcode is not None else []
        self.name = ""
        self.upload_started = 0.0
        self.upload_s = 0.0
        self.done_seen = False

    async def upload(self, file_name: str, on_progress: Callable[[int], None]) -> str:
        """Puts the file on the card under a free 8.3 name, checks its size there, returns the name."""
        assert self.gcode is not None
        await marlin_sd.mount(self.port)
        self.name = marlin_sd.card_name(file_name, await marlin_sd.listing(self.port))
        self.upload_started = time.monotonic()
        await marlin_sd.upload(self.port, self.name, self.gcode.commands, on_progress)
        self.upload_s = time.monotonic() - self.upload_started
        await marlin_sd.verify(self.port, self.name, self.offsets[-1] if self.offsets else 0)
        return self.name

    async def start(self) -> None:
        await marlin_sd.start(self.port, self.name)

    def done_index(self, position: int) -> int:
        """How many of the job's commands the printer has read from the card at byte `position`."""
        return bisect.bisect_right(self.offsets, position)

    async def follow(self, on_position: Callable[[int, int], None]) -> None:
        """Returns when the printer says the file is done; raises `CardError` if it stopped otherwise."""

        def watch(line: str) -> None:
            if line.lower().startswith("done printing file"):
                self.done_seen = True

        self.port.listeners.append(watch)
        try:
            while not self.done_seen:
                position = await marlin_sd.status(self.port)
                if position == marlin_sd.NOT_PRINTING and not self.done_seen:
                    # `Done printing file` may still be on its way behind the status reply.
                    await asyncio.sleep(0.3)
                    if not self.done_seen:
                        raise marlin_sd.CardError("card_print_stopped", f"{self.name} is no longer being printed, "
                                                  "and the printer did not say it was done")
                elif position is not None:
                    on_position(*position)
                await asyncio.sleep(self.poll_s)
        finally:
            self.port.listeners.remove(watch)
