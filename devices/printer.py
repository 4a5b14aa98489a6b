"""3D printers on USB serial (Marlin): print jobs that belong to lessons, kept safe and on record.

The device owns one `MarlinPort`, the printer's queue in the shared job store,
and the job being printed. A job starts only with someone's word that the bed
is clear: the `print` request carries it for a job that can start at once;
a job queued behind another waits for `start_next` with the same word.

A job is streamed line by line, or put on the printer's SD card and printed from
there (`print_from`, `devices/printer_sd.py`); a card job outlives the daemon, which
finds it again with `M27` when it starts and follows it to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Self

from classroomd.config.schema import DeviceConfig
from classroomd.core.timestamps import now_iso
from classroomd.devices.base import (
    DeviceHost,
    DeviceInfo,
    Localized,
    NoArgs,
    Priority,
    RequestError,
    Status,
    action,
)
from classroomd.devices.printer_jobs import PrinterBase, PrinterOptions
from classroomd.devices.printer_sd import CardJob, card_message, choose_source, lesson_seconds_left
from classroomd.drivers import marlin_sd
from classroomd.drivers.marlin import (
    BoardReset,
    MarlinError,
    MarlinPort,
    MarlinSettings,
    PrinterHalted,
    PrinterLost,
    PrinterTimeout,
    ResendLimit,
)
from classroomd.drivers.marlin_protocol import Temperatures
from classroomd.drivers.serial_link import SerialLink, SerialSettings
from classroomd.services.print_jobs import Gcode, GcodeError, PrintJob, scan_gcode

if TYPE_CHECKING:
    from classroomd.devices.base import Device

log = logging.getLogger("classroomd.printer")

#: Sent after a cancel: the moves already in the printer finish, then it cools down.
CANCEL_COMMANDS = ("M104 S0", "M140 S0", "M107")


def _message(code: str, reason: str, heaters_off: bool = True, on_card: bool = False) -> Localized:
    if code == "printer_lost" and on_card:
        return Localized(
            kk="Принтермен байланыс үзілді (кабель ажыратылды ма?). Принтер SD картадан басып шығаруды жалғастыруда.",
            ru="Связь с принтером потеряна (кабель отключён?). Принтер продолжает печать с SD-карты.",
            en="Lost the connection to the printer (unplugged?). It goes on printing from its SD card.")
    if code == "printer_halted":
        if not heaters_off:
            return Localized(kk=f"Принтер апаттық түрде тоқтады: {reason}. Басып шығару тоқтатылды.",
                             ru=f"Принтер аварийно остановился: {reason}. Печать прервана.",
                             en=f"The printer halted: {reason}. The print was stopped.")
        return Localized(
            kk=f"Принтер апаттық түрде тоқтады: {reason}. Басып шығару тоқтатылды, қыздырғыштар өшірілді.",
            ru=f"Принтер аварийно остановился: {reason}. Печать прервана, нагреватели выключены.",
            en=f"The printer halted: {reason}. The print was stopped and the heaters switched off.")
    if code == "printer_reset":
        return Localized(
            kk="Принтер өздігінен қайта іске қосылды; басып шығару үзілді. Үстелді тексеріңіз.",
            ru="Принтер сам перезагрузился; печать прервана. Проверьте стол.",
            en="The printer restarted by itself; the print was interrupted. Check the bed.")
    if code == "printer_timeout":
        return Localized(
            kk="Принтер жауап бермей қалды; басып шығару тоқтатылды.",
            ru="Принтер перестал отвечать; печать остановлена.",
            en="The printer stopped answering; the print was stopped.")
    if code == "link_noise":
        return Localized(
            kk="USB кабелі арқылы байланыс тым шулы; басып шығару тоқтатылды. Қысқарақ кабельді қолданып көріңіз.",
            ru="Связь по USB-кабелю слишком зашумлена; печать остановлена. Попробуйте более короткий кабель.",
            en="The USB link is too noisy; the print was stopped. Try a shorter cable.")
    return Localized(
        kk="Принтермен байланыс үзілді (кабель ажыратылды ма?). Басып шығару үзілді.",
        ru="Связь с принтером потеряна (кабель отключён?). Печать прервана.",
        en="Lost the connection to the printer (unplugged?). The print was interrupted.")


def _firmware_error_message(text: str) -> Localized:
    return Localized(
        kk=f"Принтер қате туралы хабарлады, бірақ тоқтаған жоқ: {text}. Басып шығару жалғасуда.",
        ru=f"Принтер сообщил об ошибке, но не остановился: {text}. Печать продолжается.",
        en=f"The printer reported an error but did not stop: {text}. The print goes on.")


def _alert_code(exc: MarlinError) -> str:
    if isinstance(exc, BoardReset):
        return "printer_reset"
    if isinstance(exc, PrinterTimeout):
        return "printer_timeout"
    if isinstance(exc, ResendLimit):
        return "link_noise"
    if isinstance(exc, PrinterLost):
        return "printer_lost"
    return "printer_halted"


class _Running:
    """The job being printed, with what its progress is computed from."""

    def __init__(self, job: PrintJob, gcode: Gcode) -> None:
        self.job = job
        self.gcode = gcode
        self.task: asyncio.Task[None] | None = None
        self.started = time.monotonic()
        self.paused_at: float | None = None
        self.paused_total = 0.0
        self.eta_s: float | None = None
        self.last_event = 0.0
        self.last_saved = 0.0
        self.cancel_requested = False
        self.m73_index = 0
        self.m73: tuple[int, int | None] | None = None
        #: Set for a job on the card; `phase` is "upload" until the printer started it, then "print".
        self.card: CardJob | None = None
        self.phase = "print"
        self.paused = False


class PrinterDevice(PrinterBase):
    """The class registered for kind `printer`: a USB printer, or, by `transport`, one behind a print server."""

    @classmethod
    def from_config(cls, config: DeviceConfig, found: DeviceInfo | None = None) -> Self:
        transport = PrinterOptions.model_validate(config.extras).transport
        if cls is PrinterDevice and transport == "octoprint":
            from classroomd.devices.printer_octoprint import OctoPrintPrinter

            # Same kind, contract and options; only how jobs reach the printer differs.
            device: Device = OctoPrintPrinter.from_config(config, found)
            return device  # type: ignore[return-value]
        return super().from_config(config, found)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.port: MarlinPort | None = None
        self.running: _Running | None = None
        self.temperatures = Temperatures()
        self._recovery: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._last_temps: tuple[Any, ...] = ()
        #: Wordings of firmware errors already reported during this job (numbers left out).
        self._reported_errors: set[str] = set()

    # --- lifecycle ------------------------------------------------------------------------------------
    async def start(self, host: DeviceHost) -> None:
        await super().start(host)
        self._open_store(host)
        if self.info.transport == "network":
            # Discovery found a print server; driving it needs its API key, which only a person can give.
            raise RuntimeError(f"{self.info.vendor or 'a print server'} at {', '.join(self.info.paths)}: to print "
                               f"to it, add a [[devices]] entry with id = \"{self.id}\", transport = "
                               "\"octoprint\" and api_key (docs/printers.md)")
        if self.config is None or not self.config.port:
            raise RuntimeError("a printer needs `port` (e.g. /dev/ttyACM0) in its [[devices]] entry")
        await self._connect()
        self.host.clear_alert(self, "printer_lost")
        await self._reattach()

    def _settings(self) -> MarlinSettings:
        o = self.opts
        return MarlinSettings(reset_wait_s=o.reset_wait_s, timeout_s=o.timeout_s, long_timeout_s=o.long_timeout_s,
                              resend_cap=o.resend_cap, send_ahead=o.send_ahead)

    async def _connect(self) -> None:
        assert self.config is not None and self.config.port
        link = SerialLink(self.config.port, SerialSettings(baud=self.config.baud or 115200))
        port = MarlinPort(link, self._settings())
        port.on_temperatures = self._on_temperatures
        port.on_fault = self._on_fault
        port.on_firmware_error = self._on_firmware_error
        self.port = port
        try:
            firmware = await port.connect()
        except BaseException:
            await port.close()
            self.port = None
            raise
        self.info.model = self.info.model or firmware.fields.get("MACHINE_TYPE", "")
        self.set_status(Status.READY)

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
            self._recovery = None
        running = self.running
        if running is not None and running.task is not None:
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.port is not None:
            await self.port.close()
            self.port = None
        if self.jobs is not None:
            self.jobs.close()
            self.jobs = None
        # The Supervisor stops a device that failed to start or was lost: that status and its reason stay.
        if self.status in (Status.READY, Status.BUSY):
            self.set_status(Status.OFFLINE)

    # --- what it exposes ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        running = self.running
        queued = self.jobs.queued(self.id) if self.jobs is not None else []
        port = self.port
        return {
            "temperatures": self.temperatures.as_dict(),
            "job": running.job.as_dict() if running else None,
            "progress": round(running.job.progress, 1) if running else None,
            "eta_s": round(running.eta_s) if running and running.eta_s is not None else None,
            "paused": bool(running and running.paused),
            "phase": running.phase if running else None,
            "queue": len(queued),
            "waiting_for_bed_clear": bool(queued) and running is None,
            "firmware": port.firmware.name if port else None,
            "capabilities": sorted(k for k, v in port.firmware.caps.items() if v) if port else [],
        }

    # --- requests ---------------------------------------------------------------------------------------------
    def _require_port(self) -> MarlinPort:
        port = self.port
        if port is None or not port.connected or self.status not in (Status.READY, Status.BUSY):
            raise RequestError("printer_not_ready", f"printer {self.id} is {self.status}"
                               + (f": {self.reason}" if self.reason else ""))
        return port

    def _current_job(self) -> PrintJob | None:
        return self.running.job if self.running is not None else None

    def _ready(self) -> None:
        self._require_port()

    async def _cancel_running(self) -> PrintJob:
        running = self.running
        if running is None or running.task is None:
            raise RequestError("no_job", "nothing is printing")
        running.cancel_requested = True
        running.task.cancel()
        await asyncio.gather(running.task, return_exceptions=True)
        return running.job

    def _source(self, gcode: Gcode) -> str:
        port = self._require_port()
        source = choose_source(self.opts.print_from, port.firmware, gcode, self.opts.sd_above_min,
                               lesson_seconds_left(self.host.lesson, self.opts.lesson_min))
        if self.opts.print_from == "sd" and source != "sd":
            raise RequestError("no_card", f"printer {self.id} reports no SD card support (M115 Cap:SDCARD); "
                                          "set print_from = \"stream\" or \"auto\"")
        return source

    @action("pause", description="Stop sending lines; the moves already in the printer finish.")
    async def pause(self, _args: NoArgs) -> dict[str, Any]:
        running, port = self.running, self._require_port()
        if running is None:
            raise RequestError("no_job", "nothing is printing")
        if not running.paused:
            await self._hold(running, port, True)
            running.paused = True
            running.paused_at = time.monotonic()
            running.job.state = "paused"
            self._store().save(running.job)
            self.host.emit(self, "job_paused", {"job": running.job.as_dict()})
            self.changed()
        return {"job": running.job.as_dict()}

    @action("resume", description="Continue a paused job.")
    async def resume(self, _args: NoArgs) -> dict[str, Any]:
        running, port = self.running, self._require_port()
        if running is None or not running.paused:
            raise RequestError("not_paused", "no job is paused")
        await self._hold(running, port, False)
        running.paused = False
        if running.paused_at is not None:
            running.paused_total += time.monotonic() - running.paused_at
            running.paused_at = None
        running.job.state = "printing"
        self._store().save(running.job)
        self.host.emit(self, "job_resumed", {"job": running.job.as_dict()})
        self.changed()
        return {"job": running.job.as_dict()}

    async def _hold(self, running: _Running, port: MarlinPort, pause: bool) -> None:
        """Pause or resume: a card print by the firmware's own M25/M24, anything else by holding the lines."""
        if running.card is not None and running.phase == "print":
            try:
                await (marlin_sd.pause(port) if pause else marlin_sd.resume(port))
            except (MarlinError, TimeoutError) as exc:
                raise RequestError("printer_not_ready", f"the printer did not answer: {exc}") from None
        elif pause:
            port.pause()
        else:
            port.resume()

    @action("emergency_stop", description="M112 at once, ahead of everything queued; then heaters off.")
    async def emergency_stop(self, _args: NoArgs) -> dict[str, Any]:
        port = self.port
        if port is None:
            raise RequestError("printer_not_ready", f"printer {self.id} is not connected")
        await port.emergency_stop(heaters_off=True)
        return {"status": str(self.status), "reason": self.reason}

    @action("reconnect", description="Reset and reconnect the printer after a halt (the board restarts).")
    async def reconnect(self, _args: NoArgs) -> dict[str, Any]:
        if self.running is not None:
            raise RequestError("busy", "a job is printing; cancel it first")
        if self.port is not None:
            await self.port.close()
            self.port = None
        # DTR must stay low for a moment for the reopen to reset the board out of its halt.
        await asyncio.sleep(0.25)
        try:
            await self._connect()
        except Exception as exc:
            self.set_status(Status.FAULT, str(exc))
            raise RequestError("connect_failed", str(exc)) from None
        for code in ("printer_halted", "printer_reset", "printer_timeout", "link_noise", "printer_lost"):
            self.host.clear_alert(self, code)
        return {"status": str(self.status), "firmware": self.port.firmware.name if self.port else None}

    # --- running a job ---------------------------------------------------------------------------------------
    def _start_job(self, job: PrintJob, gcode: Gcode) -> None:
        # Someone has just confirmed the bed is clear: earlier warnings about the printer are answered.
        for code in ("printer_reset", "printer_timeout", "link_noise", "printer_lost"):
            self.host.clear_alert(self, code)
        running = _Running(job, gcode)
        if job.print_from == "sd":
            assert self.port is not None
            running.card = CardJob(self.port, gcode, self.opts.sd_poll_s)
            running.phase = "upload"
        self._reported_errors.clear()
        job.state, job.started, job.reason = "printing", now_iso(), ""
        job.lines_total = len(gcode.commands)
        self._store().save(job)
        self._launch(running)
        self.host.emit(self, "job_started", {"job": job.as_dict()})

    def _launch(self, running: _Running) -> None:
        self.running = running
        running.task = asyncio.create_task(self._run(running), name=f"print {running.job.id}")
        self.set_status(Status.BUSY)
        self.changed()

    async def _reattach(self) -> None:
        """Card jobs a stopped daemon left `printing`: follow the one the printer still prints, settle the rest."""
        store, port = self._store(), self.port
        assert port is not None
        for job in store.active(self.id):
            position: tuple[int, int] | None = None
            current: str | None = None
            with contextlib.suppress(MarlinError, TimeoutError):
                for _attempt in range(3):
                    position = await marlin_sd.status(port)
                    if position is not None:
                        break
                if position is not None and position != marlin_sd.NOT_PRINTING:
                    current = await marlin_sd.current_file(port)
            printing = position is not None and position != marlin_sd.NOT_PRINTING
            if self.running is None and position is not None and printing and current in (None, job.printer_file):
                gcode = await self._gcode_if_kept(job)
                running = _Running(job, gcode or Gcode([], [], 0, [], 0.0, 0.0))
                running.card = CardJob(port, gcode, self.opts.sd_poll_s)
                running.card.name = job.printer_file
                running.paused = job.state == "paused"
                log.info("%s: re-attached to %s, printing %s from the card at byte %d of %d", self.id, job.id,
                         job.printer_file, *position)
                self._launch(running)
                self.host.emit(self, "job_reattached", {"job": job.as_dict()})
                continue
            job.state, job.ended = "interrupted", now_iso()
            if port.booted:
                job.reason = (f"the printer restarted when its port was opened (boards with an auto-reset do), "
                              f"which ended the print of {job.printer_file} from its card; check the bed")
            else:
                job.reason = (f"the printer was not printing {job.printer_file} from its card when the daemon came "
                              "back: it ended while nobody was watching (finished, stopped at the printer, or "
                              "switched off); check the bed")
            store.save(job)
            self.host.emit(self, "job_failed", {"job": job.as_dict(), "reason": job.reason})

    async def _gcode_if_kept(self, job: PrintJob) -> Gcode | None:
        """The job's file as it was uploaded, for progress by command and M73; None if it was deleted."""
        item = self.host.uploads.get(job.file_id)
        if item is None:
            return None
        try:
            return await asyncio.to_thread(scan_gcode, item.path)
        except (OSError, GcodeError):
            return None

    async def _run(self, running: _Running) -> None:
        job = running.job
        port = self.port
        assert port is not None
        outcome, reason = "finished", ""
        extra: dict[str, Any] = {}
        detached = False
        try:
            if running.card is None:
                await port.stream(running.gcode.commands, lambda done: self._on_progress(running, done))
            else:
                await self._print_from_card(running, running.card)
        except asyncio.CancelledError:
            outcome, reason = "cancelled", "cancelled by request" if running.cancel_requested else "daemon stopping"
            if not running.cancel_requested:
                outcome = "interrupted"
                detached = running.card is not None and running.phase == "print"
        except marlin_sd.CardError as exc:
            outcome, reason = "failed", exc.message
            extra = {"code": exc.code, "message": card_message(exc.code, exc.message).as_dict()}
        except MarlinError as exc:
            outcome = "interrupted" if isinstance(exc, BoardReset | PrinterLost) else "failed"
            reason = str(exc)
            detached = isinstance(exc, PrinterLost) and running.card is not None and running.phase == "print"
        finally:
            self._record_lines(running)
        self.running = None
        if detached:
            # The printer goes on from its card; the next start finds the job again with M27.
            log.info("%s: %s goes on from the card without the daemon (%s)", self.id, job.id, reason)
            if self.jobs is not None:
                self.jobs.save(job)
            self.changed()
            return
        job.state, job.reason, job.ended = outcome, reason, now_iso()
        if outcome == "finished":
            job.progress = 100.0
        if self.jobs is not None:
            self.jobs.save(job)
        event = {"finished": "job_finished", "cancelled": "job_cancelled"}.get(outcome, "job_failed")
        self.host.emit(self, event, {"job": job.as_dict(), "reason": reason, **extra}, Priority.EVENT)
        if outcome == "cancelled" and port.connected:
            port.resume()
            with contextlib.suppress(MarlinError, TimeoutError):
                if running.card is not None and running.phase == "print":
                    await marlin_sd.abort(port)
                for command in CANCEL_COMMANDS:
                    await port.command(command, timeout=self.opts.timeout_s)
        # A printer unplugged mid-job ends the job before the fault handler marks it lost: it must
        # not look ready in between (a teacher's page would offer to print on it).
        if self.status is Status.BUSY and port.connected:
            self.set_status(Status.READY)
        self.changed()

    async def _print_from_card(self, running: _Running, card: CardJob) -> None:
        job = running.job
        if running.phase == "upload":
            name = await card.upload(job.file_name, lambda done: self._on_upload(running, done))
            # Recorded before M24: from here a daemon that dies leaves a job the next start can find.
            job.printer_file = name
            self._store().save(job)
            await card.start()
            running.phase = "print"
            # The ETA extrapolates printing time, not the upload's.
            running.started = time.monotonic()
            self.changed()
        await card.follow(lambda position, size: self._on_card_position(running, card, position, size))

    def _on_upload(self, running: _Running, done: int) -> None:
        now = time.monotonic()
        total = len(running.gcode.commands)
        if now - running.last_event >= self.opts.progress_interval_s or done == total:
            running.last_event = now
            self.host.emit(self, "progress", {"job_id": running.job.id, "phase": "upload",
                                              "upload_progress": round(100.0 * done / max(1, total), 1),
                                              "progress": 0.0, "eta_s": None, "lines_sent": done,
                                              "lines_total": total}, Priority.TELEMETRY)
            self.changed()

    def _on_card_position(self, running: _Running, card: CardJob, position: int, size: int) -> None:
        done = card.done_index(position) if card.offsets else 0
        if done > 0:
            self._on_progress(running, min(done, len(running.gcode.commands)))
            return
        running.job.progress = 100.0 * position / max(1, size)
        self._extrapolate(running)
        self._publish_progress(running, position >= size)

    def _record_lines(self, running: _Running) -> None:
        port = self.port
        stream = port.current_stream if port is not None else None
        if stream is not None and stream.commands is running.gcode.commands:
            running.job.lines_sent = stream.sent
            running.job.lines_resent = stream.resent

    def _on_progress(self, running: _Running, done: int) -> None:
        gcode, job = running.gcode, running.job
        while running.m73_index < len(gcode.m73) and gcode.m73[running.m73_index][0] < done:
            _index, percent, remaining = gcode.m73[running.m73_index]
            running.m73 = (percent, remaining)
            running.m73_index += 1
        if running.m73 is not None:
            job.progress = float(running.m73[0])
            remaining_min = running.m73[1]
            running.eta_s = remaining_min * 60.0 if remaining_min is not None else None
        else:
            job.progress = 100.0 * gcode.offsets[done - 1] / max(1, gcode.total_bytes)
        if running.eta_s is None or running.m73 is None or running.m73[1] is None:
            self._extrapolate(running)
        self._publish_progress(running, done == len(gcode.commands))

    def _extrapolate(self, running: _Running) -> None:
        elapsed = time.monotonic() - running.started - running.paused_total
        fraction = running.job.progress / 100.0
        running.eta_s = elapsed * (1 - fraction) / fraction if fraction > 0.001 else None

    def _publish_progress(self, running: _Running, final: bool) -> None:
        job = running.job
        now = time.monotonic()
        if now - running.last_event >= self.opts.progress_interval_s or final:
            running.last_event = now
            self._record_lines(running)
            if self.jobs is not None and now - running.last_saved >= 10.0:
                running.last_saved = now
                self.jobs.save(job)
            self.host.emit(self, "progress", {"job_id": job.id, "phase": "print", "progress": round(job.progress, 1),
                                              "eta_s": round(running.eta_s) if running.eta_s is not None else None,
                                              "lines_sent": job.lines_sent, "lines_total": job.lines_total},
                           Priority.TELEMETRY)
            self.changed()

    # --- printer reports ---------------------------------------------------------------------------------------
    def _on_temperatures(self, temps: Temperatures) -> None:
        self.temperatures = temps
        rounded = tuple(round(v) if v is not None else None
                        for v in (temps.hotend, temps.hotend_target, temps.bed, temps.bed_target))
        if rounded != self._last_temps:
            # Whole degrees are what a classroom needs; finer changes would only flood the bus.
            self._last_temps = rounded
            self.changed()

    def _on_firmware_error(self, text: str) -> None:
        # Once per wording and job: a firmware that repeats one complaint on every line would
        # otherwise fill the outbox with it.
        wording = re.sub(r"\d+", "#", text.lower())
        if wording in self._reported_errors:
            return
        self._reported_errors.add(wording)
        running = self.running
        self.host.emit(self, "printer_error", {
            "text": text, "job_id": running.job.id if running is not None else None,
            "message": _firmware_error_message(text).as_dict()}, Priority.ALERT)

    def _on_fault(self, exc: MarlinError) -> None:
        task = asyncio.get_running_loop().create_task(self._handle_fault(exc), name=f"fault {self.id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _handle_fault(self, exc: MarlinError) -> None:
        code = _alert_code(exc)
        port = self.port
        heaters_off = self.opts.halt_policy != "none"
        running = self.running
        on_card = running is not None and running.card is not None and running.phase == "print"
        self.host.alert(self, code, "critical" if code == "printer_halted" else "warning",
                        _message(code, str(exc), heaters_off, on_card))
        if port is not None and not isinstance(exc, BoardReset | PrinterLost):
            policy = self.opts.halt_policy
            if policy == "m112_heaters_off" and not (isinstance(exc, PrinterHalted) and "M112" in str(exc)):
                await port.write_unnumbered("M112")
            if policy in ("m112_heaters_off", "heaters_off"):
                await port.write_unnumbered("M104 S0", "M140 S0")
        if isinstance(exc, PrinterLost):
            self.set_status(Status.LOST, str(exc))
            self._recover()
            return
        self.set_status(Status.FAULT, str(exc))
        if isinstance(exc, BoardReset) and port is not None:
            # The board is alive and cold after a reset: talk to it again, but start nothing.
            running = self.running
            if running is not None and running.task is not None:
                await asyncio.gather(running.task, return_exceptions=True)
            try:
                await port.handshake()
                self.set_status(Status.READY)
            except MarlinError as again:
                self.set_status(Status.FAULT, str(again))

    def _recover(self) -> None:
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._reconnect_loop(), name=f"reconnect {self.id}")

    async def _reconnect_loop(self) -> None:
        """Let the job's task write how it ended, close the port, then leave reopening to the host."""
        running = self.running
        if running is not None and running.task is not None:
            await asyncio.gather(running.task, return_exceptions=True)
        if self.port is not None:
            await self.port.close()
            self.port = None
        self.lost(self.reason or "the printer went away")

