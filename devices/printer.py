"""3D printers on USB serial (Marlin): print jobs that belong to lessons, kept safe and on record.

The device owns one `MarlinPort`, the printer's queue in the shared job store,
and the job being printed. A job starts only with someone's word that the bed
is clear: the `print` request carries it for a job that can start at once;
a job queued behind another waits for `start_next` with the same word.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from classroomd.core.timestamps import now_iso
from classroomd.devices.base import (
    Device,
    DeviceHost,
    Kind,
    Localized,
    NoArgs,
    Priority,
    Property,
    RequestError,
    Status,
    action,
)
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
from classroomd.services.print_jobs import (
    Gcode,
    GcodeError,
    JobStore,
    PrintJob,
    check_limits,
    new_job_id,
    scan_gcode,
)

JOB_DB = "print-jobs.sqlite3"
#: Sent after a cancel: the moves already in the printer finish, then it cools down.
CANCEL_COMMANDS = ("M104 S0", "M140 S0", "M107")


class PrinterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_hotend_c: float = Field(260.0, gt=0, le=500, description="jobs heating the nozzle above this are refused")
    max_bed_c: float = Field(110.0, gt=0, le=200, description="jobs heating the bed above this are refused")
    halt_policy: Literal["m112_heaters_off", "heaters_off", "none"] = Field(
        "m112_heaters_off", description="what the daemon sends when the printer faults mid-job")
    timeout_s: float = Field(5.0, gt=0, description="silence before a line is re-sent as a probe")
    long_timeout_s: float = Field(600.0, gt=0, description="the same for G28/G29/M109/M190/M400/M600")
    resend_cap: int = Field(12, ge=1, description="resend requests for one line before giving up")
    send_ahead: bool = Field(True, description="fill the firmware's buffer when it reports ADVANCED_OK")
    reset_wait_s: float = Field(3.0, ge=0, description="how long to wait for 'start' after opening the port")
    progress_interval_s: float = Field(2.0, gt=0, description="at most one progress event this often")


class PrintArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_id: str = Field(description="an id from POST /api/v1/uploads")
    lesson_id: str | None = Field(None, description="the lesson the print belongs to; the current one if omitted")
    confirm_bed_clear: bool = Field(False, description="must be true: someone checked the bed is empty")


class StartNextArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm_bed_clear: bool = Field(False, description="must be true: someone checked the bed is empty")
    job_id: str | None = Field(None, description="a queued job; the first one if omitted")


class JobArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str | None = Field(None, description="a queued job to remove; the running job if omitted")


class HistoryArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(20, ge=1, le=500)
    lesson_id: str | None = None


def _message(code: str, reason: str, heaters_off: bool = True) -> Localized:
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


class PrinterDevice(Device):
    kind = Kind.PRINTER
    Options = PrinterOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opts: PrinterOptions = self.options if isinstance(self.options, PrinterOptions) else PrinterOptions()
        self.port: MarlinPort | None = None
        self.jobs: JobStore | None = None
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
        if self.jobs is None:
            self.jobs = JobStore(host.state_dir / JOB_DB)
            for job in self.jobs.interrupt_active(self.id, "the daemon stopped during the print"):
                self.host.emit(self, "job_failed", {"job": job.as_dict(), "reason": job.reason})
        if self.config is None or not self.config.port:
            raise RuntimeError("a printer needs `port` (e.g. /dev/ttyACM0) in its [[devices]] entry")
        await self._connect()
        self.host.clear_alert(self, "printer_lost")

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
        self.set_status(Status.OFFLINE)

    # --- what it exposes ----------------------------------------------------------------------------------
    def properties(self) -> dict[str, Property]:
        return {
            "temperatures": Property("object", unit="°C", description="hotend and bed: actual and target"),
            "job": Property("object", description="the job being printed, or null"),
            "progress": Property("number", unit="%", description="progress of the current job"),
            "eta_s": Property("number", unit="s", description="estimated time left"),
            "queue": Property("integer", description="jobs waiting"),
        }

    def state(self) -> dict[str, Any]:
        running = self.running
        queued = self.jobs.queued(self.id) if self.jobs is not None else []
        port = self.port
        return {
            "temperatures": self.temperatures.as_dict(),
            "job": running.job.as_dict() if running else None,
            "progress": round(running.job.progress, 1) if running else None,
            "eta_s": round(running.eta_s) if running and running.eta_s is not None else None,
            "paused": bool(port and port.paused and running),
            "queue": len(queued),
            "waiting_for_bed_clear": bool(queued) and running is None,
            "firmware": port.firmware.name if port else None,
            "capabilities": sorted(k for k, v in port.firmware.caps.items() if v) if port else [],
        }

    # --- requests ---------------------------------------------------------------------------------------------
    def _store(self) -> JobStore:
        if self.jobs is None:
            raise RequestError("not_ready", f"printer {self.id} is not started")
        return self.jobs

    def _require_port(self) -> MarlinPort:
        port = self.port
        if port is None or not port.connected or self.status not in (Status.READY, Status.BUSY):
            raise RequestError("printer_not_ready", f"printer {self.id} is {self.status}"
                               + (f": {self.reason}" if self.reason else ""))
        return port

    async def _prepare(self, job: PrintJob) -> Gcode:
        item = self.host.uploads.get(job.file_id)
        if item is None:
            raise RequestError("unknown_file", f"no uploaded file {job.file_id!r}; upload it with POST /api/v1/uploads")
        try:
            gcode = await asyncio.to_thread(scan_gcode, item.path)
            check_limits(gcode, self.opts.max_hotend_c, self.opts.max_bed_c)
        except GcodeError as exc:
            raise RequestError(exc.code, exc.message) from None
        if not gcode.commands:
            raise RequestError("empty_file", f"{item.name} has no G-code commands")
        return gcode

    @action("print", PrintArgs, "Queue an uploaded G-code file; it starts at once when the printer is free.")
    async def print_file(self, args: PrintArgs) -> dict[str, Any]:
        if not args.confirm_bed_clear:
            raise RequestError("bed_clear_not_confirmed",
                               "confirm_bed_clear must be true: check that the bed is empty before printing")
        store = self._store()
        item = self.host.uploads.get(args.file_id)
        if item is None:
            raise RequestError("unknown_file", f"no uploaded file {args.file_id!r}; upload it first")
        lesson = self.host.lesson
        lesson_id = args.lesson_id or (lesson.id if lesson else None)
        same_lesson = lesson is not None and lesson.id == lesson_id
        job = PrintJob(id=new_job_id(), printer=self.id, file_id=item.id, file_name=item.name, sha256=item.sha256,
                       lesson_id=lesson_id, teacher=lesson.teacher if lesson and same_lesson else "",
                       subject=lesson.subject if lesson and same_lesson else "")
        gcode = await self._prepare(job)
        job.lines_total = len(gcode.commands)
        # Decided after the file was read (which awaits), so two requests cannot both start.
        can_start = self.running is None and not store.queued(self.id)
        if can_start:
            self._require_port()
        store.add(job)
        if can_start:
            self._start_job(job, gcode)
        self.changed()
        position = 0 if can_start else len(store.queued(self.id))
        return {"job": job.as_dict(), "started": can_start, "position": position}

    @action("start_next", StartNextArgs, "Start the next queued job once someone has checked the bed is clear.")
    async def start_next(self, args: StartNextArgs) -> dict[str, Any]:
        if not args.confirm_bed_clear:
            raise RequestError("bed_clear_not_confirmed",
                               "confirm_bed_clear must be true: take the last print off the bed first")
        store = self._store()
        if self.running is not None:
            raise RequestError("busy", f"printer {self.id} is printing {self.running.job.id}")
        queued = store.queued(self.id)
        job = next((j for j in queued if args.job_id in (None, j.id)), None)
        if job is None:
            raise RequestError("no_queued_job", "nothing is queued" if not queued else f"no queued job {args.job_id!r}")
        self._require_port()
        gcode = await self._prepare(job)
        current = store.get(job.id)
        if self.running is not None or current is None or current.state != "queued":
            raise RequestError("busy", f"printer {self.id} started another job meanwhile")
        self._require_port()
        self._start_job(job, gcode)
        self.changed()
        return {"job": job.as_dict()}

    @action("pause", description="Stop sending lines; the moves already in the printer finish.")
    async def pause(self, _args: NoArgs) -> dict[str, Any]:
        running, port = self.running, self._require_port()
        if running is None:
            raise RequestError("no_job", "nothing is printing")
        if not port.paused:
            port.pause()
            running.paused_at = time.monotonic()
            running.job.state = "paused"
            self._store().save(running.job)
            self.host.emit(self, "job_paused", {"job": running.job.as_dict()})
            self.changed()
        return {"job": running.job.as_dict()}

    @action("resume", description="Continue a paused job.")
    async def resume(self, _args: NoArgs) -> dict[str, Any]:
        running, port = self.running, self._require_port()
        if running is None or not port.paused:
            raise RequestError("not_paused", "no job is paused")
        if running.paused_at is not None:
            running.paused_total += time.monotonic() - running.paused_at
            running.paused_at = None
        running.job.state = "printing"
        self._store().save(running.job)
        port.resume()
        self.host.emit(self, "job_resumed", {"job": running.job.as_dict()})
        self.changed()
        return {"job": running.job.as_dict()}

    @action("cancel", JobArgs, "Cancel the running job (heaters off), or remove a queued one.")
    async def cancel(self, args: JobArgs) -> dict[str, Any]:
        store = self._store()
        running = self.running
        if args.job_id is None or (running is not None and running.job.id == args.job_id):
            if running is None or running.task is None:
                raise RequestError("no_job", "nothing is printing")
            running.cancel_requested = True
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)
            return {"job": running.job.as_dict()}
        job = store.get(args.job_id)
        if job is None or job.printer != self.id or job.state != "queued":
            raise RequestError("unknown_job", f"no queued job {args.job_id!r} on {self.id}")
        job.state, job.reason, job.ended = "cancelled", "removed from the queue", now_iso()
        store.save(job)
        self.host.emit(self, "job_cancelled", {"job": job.as_dict()})
        self.changed()
        return {"job": job.as_dict()}

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

    @action("queue", description="Jobs waiting on this printer, first to print first.")
    async def queue(self, _args: NoArgs) -> dict[str, Any]:
        running = self.running
        return {"running": running.job.as_dict() if running else None,
                "jobs": [j.as_dict() for j in self._store().queued(self.id)]}

    @action("history", HistoryArgs, "Jobs that ended, newest first, with outcome and reason.")
    async def history(self, args: HistoryArgs) -> dict[str, Any]:
        return {"jobs": [j.as_dict() for j in self._store().history(self.id, args.limit, args.lesson_id)]}

    # --- running a job ---------------------------------------------------------------------------------------
    def _start_job(self, job: PrintJob, gcode: Gcode) -> None:
        # Someone has just confirmed the bed is clear: earlier warnings about the printer are answered.
        for code in ("printer_reset", "printer_timeout", "link_noise", "printer_lost"):
            self.host.clear_alert(self, code)
        running = _Running(job, gcode)
        self._reported_errors.clear()
        job.state, job.started, job.reason = "printing", now_iso(), ""
        job.lines_total = len(gcode.commands)
        self._store().save(job)
        self.running = running
        running.task = asyncio.create_task(self._run(running), name=f"print {job.id}")
        self.host.emit(self, "job_started", {"job": job.as_dict()})
        self.set_status(Status.BUSY)
        self.changed()

    async def _run(self, running: _Running) -> None:
        job = running.job
        port = self.port
        assert port is not None
        outcome, reason = "finished", ""
        try:
            await port.stream(running.gcode.commands, lambda done: self._on_progress(running, done))
        except asyncio.CancelledError:
            outcome, reason = "cancelled", "cancelled by request" if running.cancel_requested else "daemon stopping"
            if not running.cancel_requested:
                outcome = "interrupted"
        except MarlinError as exc:
            outcome = "interrupted" if isinstance(exc, BoardReset | PrinterLost) else "failed"
            reason = str(exc)
        finally:
            self._record_lines(running)
        job.state, job.reason, job.ended = outcome, reason, now_iso()
        if outcome == "finished":
            job.progress = 100.0
        if self.jobs is not None:
            self.jobs.save(job)
        self.running = None
        event = {"finished": "job_finished", "cancelled": "job_cancelled"}.get(outcome, "job_failed")
        self.host.emit(self, event, {"job": job.as_dict(), "reason": reason}, Priority.EVENT)
        if outcome == "cancelled" and port.connected:
            port.resume()
            with contextlib.suppress(MarlinError, TimeoutError):
                for command in CANCEL_COMMANDS:
                    await port.command(command, timeout=self.opts.timeout_s)
        if self.status is Status.BUSY:
            self.set_status(Status.READY)
        self.changed()

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
        elapsed = time.monotonic() - running.started - running.paused_total
        if running.m73 is not None:
            job.progress = float(running.m73[0])
            remaining_min = running.m73[1]
            running.eta_s = remaining_min * 60.0 if remaining_min is not None else None
        else:
            job.progress = 100.0 * gcode.offsets[done - 1] / max(1, gcode.total_bytes)
        if running.eta_s is None or running.m73 is None or running.m73[1] is None:
            fraction = job.progress / 100.0
            running.eta_s = elapsed * (1 - fraction) / fraction if fraction > 0.001 else None
        now = time.monotonic()
        if now - running.last_event >= self.opts.progress_interval_s or done == len(gcode.commands):
            running.last_event = now
            self._record_lines(running)
            if self.jobs is not None and now - running.last_saved >= 10.0:
                running.last_saved = now
                self.jobs.save(job)
            self.host.emit(self, "progress", {"job_id": job.id, "progress": round(job.progress, 1),
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
        self.host.alert(self, code, "critical" if code == "printer_halted" else "warning",
                        _message(code, str(exc), heaters_off))
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

