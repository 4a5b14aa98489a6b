"""What every printer does with jobs, whatever drives it: options, the queue, bed-clear, history.

A USB printer (`devices/printer.py`) and a printer behind a print server
(`devices/printer_octoprint.py`) are one kind with one contract: the same
requests, job records and events. This base holds the part that does not depend
on how lines reach the printer; a subclass says whether it is ready, which job runs,
how a job starts and how the running one is cancelled.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from classroomd.core.timestamps import now_iso
from classroomd.devices.base import Device, DeviceHost, Kind, NoArgs, Property, RequestError, action
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


class PrinterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transport: Literal["serial", "octoprint"] = Field(
        "serial", description="USB serial (Marlin), or a printer behind an OctoPrint server (`url`, `api_key`)")
    url: str | None = Field(None, description="the print server's address, e.g. http://octopi.local")
    api_key: str | None = Field(None, description="the print server's API key (OctoPrint: Settings → Application Keys)")
    poll_s: float = Field(2.0, gt=0, description="how often a print server is asked for state and progress")
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
    print_from: Literal["stream", "sd", "auto"] = Field(
        "auto", description="stream lines from the PC, print from the printer's SD card, or let the job decide")
    sd_above_min: float = Field(30.0, ge=0, description="auto: the card for jobs estimated longer than this")
    lesson_min: float = Field(40.0, gt=0, description="auto: the card for jobs longer than the lesson's time left")
    sd_poll_s: float = Field(2.0, gt=0, description="how often a card print's position is asked (M27)")


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


class PrinterBase(Device):
    """A printer's jobs: lesson-tagged records, a queue that never starts by itself, bed-clear checks."""

    kind = Kind.PRINTER
    Options = PrinterOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opts: PrinterOptions = self.options if isinstance(self.options, PrinterOptions) else PrinterOptions()
        self.jobs: JobStore | None = None

    # --- what a subclass provides -------------------------------------------------------------
    def _current_job(self) -> PrintJob | None:
        """The job printing now, if any."""
        raise NotImplementedError

    def _ready(self) -> None:
        """Raise `printer_not_ready` unless a job could start now."""
        raise NotImplementedError

    def _source(self, gcode: Gcode) -> str:
        """Where this job will run from (`stream`, `sd`, `octoprint`); may refuse it."""
        raise NotImplementedError

    def _start_job(self, job: PrintJob, gcode: Gcode) -> None:
        raise NotImplementedError

    async def _cancel_running(self) -> PrintJob:
        """Cancel the running job; returns its record once it ended."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------------
    def properties(self) -> dict[str, Property]:
        return {
            "temperatures": Property("object", unit="°C", description="hotend and bed: actual and target"),
            "job": Property("object", description="the job being printed, or null"),
            "progress": Property("number", unit="%", description="progress of the current job"),
            "eta_s": Property("number", unit="s", description="estimated time left"),
            "queue": Property("integer", description="jobs waiting"),
        }

    def _open_store(self, host: DeviceHost) -> JobStore:
        """The job store, opened at each start; jobs a stopped daemon left printing are settled here."""
        if self.jobs is None:
            self.jobs = JobStore(host.state_dir / JOB_DB)
            for job in self.jobs.interrupt_active(self.id, "the daemon stopped during the print"):
                host.emit(self, "job_failed", {"job": job.as_dict(), "reason": job.reason})
        return self.jobs

    def _store(self) -> JobStore:
        if self.jobs is None:
            raise RequestError("not_ready", f"printer {self.id} is not started")
        return self.jobs

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
        can_start = self._current_job() is None and not store.queued(self.id)
        if can_start:
            job.print_from = self._source(gcode)
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
        running = self._current_job()
        if running is not None:
            raise RequestError("busy", f"printer {self.id} is printing {running.id}")
        queued = store.queued(self.id)
        job = next((j for j in queued if args.job_id in (None, j.id)), None)
        if job is None:
            raise RequestError("no_queued_job", "nothing is queued" if not queued else f"no queued job {args.job_id!r}")
        self._ready()
        gcode = await self._prepare(job)
        current = store.get(job.id)
        if self._current_job() is not None or current is None or current.state != "queued":
            raise RequestError("busy", f"printer {self.id} started another job meanwhile")
        job.print_from = self._source(gcode)
        self._start_job(job, gcode)
        self.changed()
        return {"job": job.as_dict()}

    @action("cancel", JobArgs, "Cancel the running job (heaters off), or remove a queued one.")
    async def cancel(self, args: JobArgs) -> dict[str, Any]:
        store = self._store()
        running = self._current_job()
        if args.job_id is None or (running is not None and running.id == args.job_id):
            if running is None:
                raise RequestError("no_job", "nothing is printing")
            return {"job": (await self._cancel_running()).as_dict()}
        job = store.get(args.job_id)
        if job is None or job.printer != self.id or job.state != "queued":
            raise RequestError("unknown_job", f"no queued job {args.job_id!r} on {self.id}")
        job.state, job.reason, job.ended = "cancelled", "removed from the queue", now_iso()
        store.save(job)
        self.host.emit(self, "job_cancelled", {"job": job.as_dict()})
        self.changed()
        return {"job": job.as_dict()}

    @action("queue", description="Jobs waiting on this printer, first to print first.")
    async def queue(self, _args: NoArgs) -> dict[str, Any]:
        running = self._current_job()
        return {"running": running.as_dict() if running else None,
                "jobs": [j.as_dict() for j in self._store().queued(self.id)]}

    @action("history", HistoryArgs, "Jobs that ended, newest first, with outcome and reason.")
    async def history(self, args: HistoryArgs) -> dict[str, Any]:
        return {"jobs": [j.as_dict() for j in self._store().history(self.id, args.limit, args.lesson_id)]}
