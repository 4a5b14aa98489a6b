"""A printer behind an OctoPrint server: kind `printer` with `transport = "octoprint"`.

The same requests, job records and events as a USB printer (`devices/printer_jobs.py`);
OctoPrint holds the serial link and streams the file, so the daemon uploads the job,
starts it, and then only watches (`GET /api/job` every `poll_s`). A print outlives the
daemon: at start, a job left `printing` is found on OctoPrint again, or settled from
OctoPrint's own record of the file's last print.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from classroomd.core.timestamps import now_iso
from classroomd.devices.base import DeviceHost, NoArgs, Priority, RequestError, Status, action
from classroomd.devices.printer_jobs import PrinterBase
from classroomd.drivers.marlin_protocol import Temperatures
from classroomd.drivers.octoprint_api import JobStatus, OctoPrintClient, OctoPrintError
from classroomd.services.print_jobs import Gcode, PrintJob

log = logging.getLogger("classroomd.printer.octoprint")

#: How long OctoPrint may take to show a print it was asked to start before the job is given up.
START_GRACE_S = 20.0


def _epoch(iso: str | None) -> float:
    if not iso:
        return 0.0
    try:
        stamp = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


class _Remote:
    """The job OctoPrint runs for us, with what was last seen of it."""

    def __init__(self, job: PrintJob) -> None:
        self.job = job
        self.task: asyncio.Task[None] | None = None
        self.seen_active = False
        self.asked_at = time.monotonic()
        self.paused = False
        self.cancel_requested = False
        self.eta_s: float | None = None
        self.last_event = 0.0
        self.ended = asyncio.Event()


class OctoPrintPrinter(PrinterBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client: OctoPrintClient | None = None
        self.server = ""
        self.remote: _Remote | None = None
        self.temperatures = Temperatures()
        self._watcher: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------------
    async def start(self, host: DeviceHost) -> None:
        await super().start(host)
        self._open_store(host)
        # The address from mDNS discovery serves when the entry names none.
        url = self.opts.url or next((p for p in self.info.paths if p.startswith(("http://", "https://"))), None)
        if not url or not self.opts.api_key:
            raise RuntimeError("an OctoPrint printer needs `url` and `api_key` in its [[devices]] entry")
        client = OctoPrintClient(url, self.opts.api_key)
        try:
            self.server = await client.version()
            if await client.connection_state() in ("Closed", "Offline") or not await client.printer():
                await client.connect()
        except OctoPrintError as exc:
            await client.close()
            # The Supervisor shows this reason with `fault` and tries again with its back-off.
            raise RuntimeError(str(exc)) from None
        self.client = client
        self.info.model = self.info.model or self.server
        await self._reattach()
        self.set_status(Status.BUSY if self.remote else Status.READY)
        self._watcher = asyncio.create_task(self._watch(), name=f"octoprint {self.id}")

    async def stop(self) -> None:
        tasks = [t for t in (self._watcher, self.remote.task if self.remote else None) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watcher = None
        # A job OctoPrint prints stays `printing` in the record: the next start finds it again.
        self.remote = None
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.jobs is not None:
            self.jobs.close()
            self.jobs = None
        # The Supervisor stops a device that failed to start or was lost: that status and its reason stay.
        if self.status in (Status.READY, Status.BUSY):
            self.set_status(Status.OFFLINE)

    def _api(self) -> OctoPrintClient:
        if self.client is None or self.status not in (Status.READY, Status.BUSY):
            raise RequestError("printer_not_ready", f"printer {self.id} is {self.status}"
                               + (f": {self.reason}" if self.reason else ""))
        return self.client

    # --- PrinterBase ------------------------------------------------------------------------------
    def _current_job(self) -> PrintJob | None:
        return self.remote.job if self.remote is not None else None

    def _ready(self) -> None:
        self._api()

    def _source(self, gcode: Gcode) -> str:
        self._api()
        return "octoprint"

    def _start_job(self, job: PrintJob, gcode: Gcode) -> None:
        job.state, job.started, job.reason = "printing", now_iso(), ""
        self._store().save(job)
        remote = _Remote(job)
        self.remote = remote
        remote.task = asyncio.create_task(self._upload_and_start(remote), name=f"octoprint start {job.id}")
        self.host.emit(self, "job_started", {"job": job.as_dict()})
        self.set_status(Status.BUSY)
        self.changed()

    async def _upload_and_start(self, remote: _Remote) -> None:
        job, client = remote.job, self._api()
        item = self.host.uploads.get(job.file_id)
        try:
            if item is None:
                raise OctoPrintError(f"the uploaded file {job.file_id} is gone")
            # The job id keeps two classes' files of the same name apart on the server.
            job.printer_file = await client.upload(item.path, f"{job.id}-{item.name}")
            self._store().save(job)
            remote.asked_at = time.monotonic()
            await client.start(job.printer_file)
        except OctoPrintError as exc:
            self._end(remote, "failed", str(exc))

    async def _cancel_running(self) -> PrintJob:
        remote = self.remote
        if remote is None:
            raise RequestError("no_job", "nothing is printing")
        remote.cancel_requested = True
        try:
            await self._api().cancel()
        except OctoPrintError as exc:
            raise RequestError("printer_not_ready", str(exc)) from None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(remote.ended.wait(), START_GRACE_S)
        return remote.job

    # --- requests that differ ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        remote = self.remote
        queued = self.jobs.queued(self.id) if self.jobs is not None else []
        return {
            "temperatures": self.temperatures.as_dict(),
            "job": remote.job.as_dict() if remote else None,
            "progress": round(remote.job.progress, 1) if remote else None,
            "eta_s": round(remote.eta_s) if remote and remote.eta_s is not None else None,
            "paused": bool(remote and remote.paused),
            "phase": "print" if remote else None,
            "queue": len(queued),
            "waiting_for_bed_clear": bool(queued) and remote is None,
            "firmware": self.server or None,
            "capabilities": [],
        }

    @action("pause", description="Pause the print on OctoPrint; the moves already in the printer finish.")
    async def pause(self, _args: NoArgs) -> dict[str, Any]:
        return await self._hold(True)

    @action("resume", description="Continue a paused job.")
    async def resume(self, _args: NoArgs) -> dict[str, Any]:
        return await self._hold(False)

    async def _hold(self, pause: bool) -> dict[str, Any]:
        remote, client = self.remote, self._api()
        if remote is None:
            raise RequestError("no_job", "nothing is printing")
        if not pause and not remote.paused:
            raise RequestError("not_paused", "no job is paused")
        if pause != remote.paused:
            try:
                await (client.pause() if pause else client.resume())
            except OctoPrintError as exc:
                raise RequestError("printer_not_ready", str(exc)) from None
            remote.paused = pause
            remote.job.state = "paused" if pause else "printing"
            self._store().save(remote.job)
            self.host.emit(self, "job_paused" if pause else "job_resumed", {"job": remote.job.as_dict()})
            self.changed()
        return {"job": remote.job.as_dict()}

    @action("emergency_stop", description="M112 through OctoPrint at once; the printer halts.")
    async def emergency_stop(self, _args: NoArgs) -> dict[str, Any]:
        try:
            await self._api().send("M112")
        except OctoPrintError as exc:
            raise RequestError("printer_not_ready", str(exc)) from None
        return {"status": str(self.status), "reason": self.reason}

    @action("reconnect", description="Ask OctoPrint to connect to its printer again.")
    async def reconnect(self, _args: NoArgs) -> dict[str, Any]:
        if self.client is None:
            raise RequestError("printer_not_ready", f"printer {self.id} is not started")
        try:
            await self.client.connect()
        except OctoPrintError as exc:
            raise RequestError("connect_failed", str(exc)) from None
        return {"status": str(self.status), "firmware": self.server}

    # --- watching -------------------------------------------------------------------------------------
    async def _watch(self) -> None:
        client = self.client
        assert client is not None
        while True:
            try:
                printer = await client.printer()
                status = await client.job()
            except OctoPrintError as exc:
                # Unreachable server or revoked key: the Supervisor reopens with its back-off.
                self.lost(str(exc))
                return
            self._take_temperatures(printer)
            if printer is None and self.remote is None:
                self.set_status(Status.FAULT, "OctoPrint has no printer connected; send `reconnect` or check "
                                              "the printer's USB cable")
            elif self.status is Status.FAULT:
                self.set_status(Status.READY)
            if self.remote is not None:
                await self._follow(self.remote, status)
            await asyncio.sleep(self.opts.poll_s)

    def _take_temperatures(self, printer: dict[str, Any] | None) -> None:
        temps = (printer or {}).get("temperature") or {}
        tool, bed = temps.get("tool0") or {}, temps.get("bed") or {}
        current = Temperatures(tool.get("actual"), tool.get("target"), bed.get("actual"), bed.get("target"))
        if current != self.temperatures:
            self.temperatures = current
            self.changed()

    async def _follow(self, remote: _Remote, status: JobStatus) -> None:
        job = remote.job
        if not job.printer_file:
            return  # still uploading
        ours = status.path == job.printer_file
        if ours and status.active:
            remote.seen_active = True
            remote.paused = status.state.startswith("Paus")
            job.progress = float(status.completion or 0.0)
            remote.eta_s = status.time_left_s
            now = time.monotonic()
            if now - remote.last_event >= self.opts.progress_interval_s:
                remote.last_event = now
                eta = round(remote.eta_s) if remote.eta_s is not None else None
                self.host.emit(self, "progress", {"job_id": job.id, "phase": "print", "eta_s": eta,
                                                  "progress": round(job.progress, 1), "lines_sent": 0,
                                                  "lines_total": job.lines_total}, Priority.TELEMETRY)
                self.changed()
            return
        if not remote.seen_active and time.monotonic() - remote.asked_at < START_GRACE_S:
            return  # OctoPrint has not shown the print yet
        await self._settle(remote, status.state)

    async def _settle(self, remote: _Remote, server_state: str) -> None:
        """OctoPrint no longer prints our file: its record of the file's last print says how it ended."""
        job = remote.job
        last: dict[str, Any] | None = None
        if self.client is not None and job.printer_file:
            with contextlib.suppress(OctoPrintError):
                last = await self.client.last_print(job.printer_file)
        recorded = last is not None and float(last.get("date") or 0) >= _epoch(job.started) - 5
        if recorded and last is not None and last.get("success"):
            self._end(remote, "finished", "")
        elif remote.cancel_requested:
            self._end(remote, "cancelled", "cancelled by request")
        elif recorded:
            self._end(remote, "failed", f"OctoPrint reports the print failed or was cancelled there ({server_state})")
        else:
            self._end(remote, "interrupted", f"OctoPrint is not printing {job.printer_file} and has no record of "
                                             f"how it ended ({server_state}); check the bed")

    def _end(self, remote: _Remote, outcome: str, reason: str) -> None:
        job = remote.job
        job.state, job.reason, job.ended = outcome, reason, now_iso()
        if outcome == "finished":
            job.progress = 100.0
        if self.jobs is not None:
            self.jobs.save(job)
        if self.remote is remote:
            self.remote = None
        remote.ended.set()
        event = {"finished": "job_finished", "cancelled": "job_cancelled"}.get(outcome, "job_failed")
        self.host.emit(self, event, {"job": job.as_dict(), "reason": reason}, Priority.EVENT)
        if self.status is Status.BUSY:
            self.set_status(Status.READY)
        self.changed()

    async def _reattach(self) -> None:
        """Jobs a stopped daemon left `printing` on OctoPrint: follow the one it still prints, settle the rest."""
        assert self.client is not None
        status = await self.client.job()
        for job in self._store().active(self.id):
            remote = _Remote(job)
            if self.remote is None and status.active and status.path == job.printer_file:
                remote.seen_active = True
                self.remote = remote
                self.host.emit(self, "job_reattached", {"job": job.as_dict()})
                continue
            await self._settle(remote, status.state)
