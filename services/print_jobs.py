"""Print jobs: the per-printer queue and history in SQLite (`state_dir/print-jobs.sqlite3`), and G-code checks.

A job is `queued`, then `printing` (or `paused`), and ends `finished`,
`failed`, `cancelled` or `interrupted`. The file is the record: a daemon that
dies mid-print finds the job still `printing` at the next start and marks it
`interrupted`; queued jobs stay queued and never start by themselves.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from classroomd.core.timestamps import now_iso
from classroomd.core.vocabulary import CodedError

TERMINAL = frozenset({"finished", "failed", "cancelled", "interrupted"})
ACTIVE = frozenset({"printing", "paused"})

#: Marlin's MAX_CMD_SIZE is 96 bytes, line number and checksum included.
MAX_COMMAND = 80
#: Columns added after the first release, with their SQL type: old files get them on open.
ADDED_COLUMNS = {"print_from": "TEXT DEFAULT 'stream'", "printer_file": "TEXT DEFAULT ''"}

@dataclass
class PrintJob:
    id: str
    printer: str
    file_id: str
    file_name: str
    sha256: str = ""
    lesson_id: str | None = None
    teacher: str = ""
    subject: str = ""
    state: str = "queued"
    reason: str = ""
    created: str = field(default_factory=now_iso)
    started: str | None = None
    ended: str | None = None
    lines_total: int = 0
    lines_sent: int = 0
    lines_resent: int = 0
    progress: float = 0.0
    #: How the job reaches the printer: "stream" (line by line from the PC), "sd" (from the printer's
    #: card) or "octoprint" (a print server streams it).
    print_from: str = "stream"
    #: The job's file on the printer's side, set once it is there and about to start: its 8.3 name on
    #: the card, or its path on a print server. Such a job outlives the daemon.
    printer_file: str = ""

    @property
    def outcome(self) -> str | None:
        return self.state if self.state in TERMINAL else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome}


COLUMNS = [f.name for f in fields(PrintJob)]


class JobStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, printer TEXT NOT NULL, file_id TEXT, "
            "file_name TEXT, sha256 TEXT, lesson_id TEXT, teacher TEXT, subject TEXT, state TEXT NOT NULL, "
            "reason TEXT, created TEXT, started TEXT, ended TEXT, lines_total INTEGER, lines_sent INTEGER, "
            "lines_resent INTEGER, progress REAL, seq INTEGER)")
        self.db.execute("CREATE INDEX IF NOT EXISTS jobs_printer_state ON jobs (printer, state)")
        present = {row[1] for row in self.db.execute("PRAGMA table_info(jobs)")}
        for column, sql_type in ADDED_COLUMNS.items():
            if column not in present:
                self.db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {sql_type}")

    def close(self) -> None:
        self.db.close()

    def _row(self, row: tuple[Any, ...]) -> PrintJob:
        return PrintJob(**dict(zip(COLUMNS, row, strict=True)))

    def add(self, job: PrintJob) -> PrintJob:
        (seq,) = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()
        values = [getattr(job, c) for c in COLUMNS]
        self.db.execute(f"INSERT INTO jobs ({', '.join(COLUMNS)}, seq) VALUES ({', '.join('?' * len(COLUMNS))}, ?)",
                        [*values, seq])
        return job

    def save(self, job: PrintJob) -> None:
        assignments = ", ".join(f"{c} = ?" for c in COLUMNS if c != "id")
        self.db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?",
                        [*(getattr(job, c) for c in COLUMNS if c != "id"), job.id])

    def get(self, job_id: str) -> PrintJob | None:
        row = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._row(row) if row else None

    def queued(self, printer: str) -> list[PrintJob]:
        rows = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE printer = ? AND state = 'queued' "
                               "ORDER BY seq", (printer,)).fetchall()
        return [self._row(r) for r in rows]

    def active(self, printer: str) -> list[PrintJob]:
        rows = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE printer = ? AND state IN "
                               "('printing', 'paused') ORDER BY seq", (printer,)).fetchall()
        return [self._row(r) for r in rows]

    def history(self, printer: str, limit: int = 50, lesson_id: str | None = None) -> list[PrintJob]:
        query = (f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE printer = ? AND state IN "
                 "('finished', 'failed', 'cancelled', 'interrupted')")
        params: list[Any] = [printer]
        if lesson_id is not None:
            query += " AND lesson_id = ?"
            params.append(lesson_id)
        rows = self.db.execute(query + " ORDER BY seq DESC LIMIT ?", [*params, limit]).fetchall()
        return [self._row(r) for r in rows]

    def interrupt_active(self, printer: str, reason: str) -> list[PrintJob]:
        """Jobs left `printing` by a daemon that stopped: they did not finish, and must not resume.

        A job the printer runs from its own copy (`printer_file` set: its card, a print server) is left
        alone: the printer may still be printing it, and the device asks before it settles the record.
        """
        jobs = [job for job in self.active(printer) if not job.printer_file]
        for job in jobs:
            job.state, job.reason, job.ended = "interrupted", reason, now_iso()
            self.save(job)
        return jobs


def new_job_id() -> str:
    return "job-" + secrets.token_hex(6)


# --- G-code ----------------------------------------------------------------------------------------------
TEMP_CODES = {"M104": "hotend", "M109": "hotend", "M140": "bed", "M190": "bed"}
WORD_RE = re.compile(r"\b([SRP])\s*(-?\d+(?:\.\d+)?)")


class GcodeError(CodedError):
    pass


@dataclass
class Gcode:
    """A file reduced to what is sent: commands without comments, with what the job needs to know."""

    commands: list[str]
    #: Bytes of the file up to and including each command, for progress without M73.
    offsets: list[int]
    total_bytes: int
    #: (command index, percent, minutes remaining or None) for each `M73` in the file.
    m73: list[tuple[int, int, int | None]]
    max_hotend: float
    max_bed: float
    #: The slicer's estimate of the print time: the first `M73 R`, else its comment; None if neither.
    estimate_s: float | None = None


#: PrusaSlicer `; estimated printing time (normal mode) = 1d 2h 3m 4s`, Cura `;TIME:3600`.
PRUSA_TIME_RE = re.compile(r";\s*estimated printing time[^=]*=\s*((?:\d+[dhms]\s*)+)", re.IGNORECASE)
CURA_TIME_RE = re.compile(r";TIME:(\d+)")
UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def _comment_estimate(line: str) -> float | None:
    match = PRUSA_TIME_RE.match(line)
    if match:
        return float(sum(int(n) * UNIT_S[u] for n, u in re.findall(r"(\d+)([dhms])", match.group(1))))
    match = CURA_TIME_RE.match(line)
    return float(match.group(1)) if match else None


def scan_gcode(path: Path) -> Gcode:
    commands: list[str] = []
    offsets: list[int] = []
    m73: list[tuple[int, int, int | None]] = []
    peaks = {"hotend": 0.0, "bed": 0.0}
    position = 0
    commented: float | None = None
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            position += len(raw)
            line = raw.decode("utf-8", "replace")
            text = line.split(";", 1)[0].strip()
            if not text:
                if commented is None and ";" in line:
                    commented = _comment_estimate(line.strip())
                continue
            if len(text) > MAX_COMMAND:
                raise GcodeError("line_too_long", f"line {number} has {len(text)} characters; printers take "
                                                  f"at most {MAX_COMMAND}")
            if not text.isascii():
                raise GcodeError("bad_gcode", f"line {number} has characters that are not G-code: {text[:40]!r}")
            code = text.split(" ", 1)[0].upper()
            words = {k: float(v) for k, v in WORD_RE.findall(text.upper())}
            if code in TEMP_CODES:
                heater = TEMP_CODES[code]
                peaks[heater] = max(peaks[heater], words.get("S", 0.0), words.get("R", 0.0))
            elif code == "M73" and "P" in words:
                remaining = int(words["R"]) if "R" in words else None
                m73.append((len(commands), int(words["P"]), remaining))
            commands.append(text)
            offsets.append(position)
    first_r = next((r for _i, _p, r in m73 if r is not None), None)
    estimate = first_r * 60.0 if first_r is not None else commented
    return Gcode(commands, offsets, position, m73, peaks["hotend"], peaks["bed"], estimate)


def check_limits(gcode: Gcode, max_hotend: float, max_bed: float) -> None:
    if gcode.max_hotend > max_hotend:
        raise GcodeError("temperature_limit", f"the file heats the nozzle to {gcode.max_hotend:g} °C; this "
                                              f"printer allows at most {max_hotend:g} °C")
    if gcode.max_bed > max_bed:
        raise GcodeError("temperature_limit", f"the file heats the bed to {gcode.max_bed:g} °C; this printer "
                                              f"allows at most {max_bed:g} °C")
