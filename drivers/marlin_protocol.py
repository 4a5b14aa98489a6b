"""The Marlin wire format: numbered, checksummed lines out; what the firmware's replies mean.

Pure functions and small types, shared by the host driver (`drivers/marlin.py`)
and the firmware simulator; the flow control lives in the driver.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any


class ErrorKind(enum.Enum):
    """What an error line from the firmware means for the host."""

    #: A line arrived out of order (the firmware wanted another number). Lines that were already
    #: on their way when it asked for a resend are refused this way too, so the request may be an echo.
    SEQUENCE = "sequence"
    #: A line arrived broken: checksum wrong or missing, number missing, garbled. Always sent again.
    DAMAGED = "damaged"
    #: The firmware stopped (or is about to): nothing more may be sent.
    HALT = "halt"
    #: A known complaint about one command that changes nothing for the job.
    BENIGN = "benign"
    #: An `Error:` in words we do not know: reported, and the print goes on.
    UNKNOWN = "unknown"


#: Words that identify an error line, first match wins, matched in lower case anywhere in the line.
#: Halts come first: a halt must never be taken for something milder. docs/printers.md lists the
#: firmwares each wording comes from.
ERROR_PATTERNS: tuple[tuple[str, ErrorKind], ...] = (
    ("kill() called", ErrorKind.HALT),
    ("printer halted", ErrorKind.HALT),
    ("printer stopped", ErrorKind.HALT),
    ("system stopped", ErrorKind.HALT),
    ("mintemp", ErrorKind.HALT),
    ("maxtemp", ErrorKind.HALT),
    ("thermal runaway", ErrorKind.HALT),
    ("heating failed", ErrorKind.HALT),
    ("alarm/halt state", ErrorKind.HALT),
    ("line number is not", ErrorKind.SEQUENCE),
    ("expected line", ErrorKind.SEQUENCE),
    ("checksum mismatch", ErrorKind.DAMAGED),
    ("no checksum", ErrorKind.DAMAGED),
    ("missing checksum", ErrorKind.DAMAGED),
    ("wrong checksum", ErrorKind.DAMAGED),
    ("checksum error", ErrorKind.DAMAGED),
    ("no line number", ErrorKind.DAMAGED),
    ("format error", ErrorKind.DAMAGED),
    ("cold extrusion prevented", ErrorKind.BENIGN),
    ("too long extrusion prevented", ErrorKind.BENIGN),
    ("unknown command", ErrorKind.BENIGN),
)
#: Line starts that are a halt whatever follows (Marlin's `!!`, Klipper's `!! `, `fatal:`).
HALT_PREFIXES = ("!!", "fatal:")


def classify_error(line: str) -> ErrorKind | None:
    """What a line from the firmware says about a fault; None when it is no error at all.

    Only `Error:` lines are classified by their words. Any other line counts only when it
    carries a halt's words, because a firmware may announce a halt without the prefix.
    """
    lower = line.strip().lower()
    if lower.startswith(HALT_PREFIXES):
        return ErrorKind.HALT
    is_error = lower.startswith("error:")
    for words, kind in ERROR_PATTERNS:
        if words in lower and (is_error or kind is ErrorKind.HALT):
            return kind
    return ErrorKind.UNKNOWN if is_error else None


#: Numbers of more than nine digits are no line numbers or buffer counts but noise, and int() of one
#: longer than 4,300 digits raises: they do not match (the lookahead refuses a cut-off prefix).
OK_FIELD_RE = re.compile(r"\b([NPB])(\d{1,9})(?!\d)")
OK_NUMBER_RE = re.compile(r"^ok\s+N\d+")
TEMP_RE = re.compile(r"(?<![A-Za-z@])(T|B):\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)")
#: `Resend: 30`, `Resend:30`, `rs N30`, `rs 30`; RepRapFirmware 2 in Marlin mode words it
#: `rs  Checksum error on line 30`.
RESEND_RE = re.compile(r"^(?:resend|rs)[:\s]*N?:?\s*(\d{1,9})(?!\d)|^rs\s.*\bline\s+(\d{1,9})\s*$",
                       re.IGNORECASE)
START_RE = re.compile(r"(?:^|[^A-Za-z0-9:_])start$")
FIRMWARE_KEYS = ("FIRMWARE_NAME", "SOURCE_CODE_URL", "PROTOCOL_VERSION", "MACHINE_TYPE", "EXTRUDER_COUNT", "UUID")


def parse_resend(line: str) -> int | None:
    """The line number a resend request asks for, or None if the line is no resend request."""
    match = RESEND_RE.match(line)
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


def checksum(text: str) -> int:
    value = 0
    for byte in text.encode("latin-1", "replace"):
        value ^= byte
    return value


def encode_line(number: int, command: str) -> bytes:
    body = f"N{number} {command}"
    return f"{body}*{checksum(body)}\n".encode("latin-1", "replace")


def command_code(command: str) -> str:
    return command.split(" ", 1)[0].upper()


@dataclass
class Temperatures:
    hotend: float | None = None
    hotend_target: float | None = None
    bed: float | None = None
    bed_target: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"hotend": {"actual": self.hotend, "target": self.hotend_target},
                "bed": {"actual": self.bed, "target": self.bed_target}}


@dataclass
class FirmwareInfo:
    name: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    caps: dict[str, bool] = field(default_factory=dict)

    def cap(self, name: str) -> bool:
        return self.caps.get(name, False)


def parse_firmware_line(line: str, info: FirmwareInfo) -> None:
    if line.startswith("Cap:"):
        name, _, value = line[4:].partition(":")
        info.caps[name.strip().upper()] = value.strip() == "1"
        return
    # `FIRMWARE_NAME:Marlin 2.1 (date) SOURCE_CODE_URL:… MACHINE_TYPE:…`: values contain spaces.
    pattern = "|".join(FIRMWARE_KEYS)
    for match in re.finditer(rf"({pattern}):(.*?)(?=\s+(?:{pattern}):|$)", line):
        info.fields[match.group(1)] = match.group(2).strip()
    info.name = info.fields.get("FIRMWARE_NAME", info.name)


def parse_temperatures(line: str) -> Temperatures | None:
    found = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in TEMP_RE.finditer(line)}
    if "T" not in found and "B" not in found:
        return None
    t, b = found.get("T"), found.get("B")
    return Temperatures(t[0] if t else None, t[1] if t else None, b[0] if b else None, b[1] if b else None)
