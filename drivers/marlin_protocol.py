"""The Marlin wire format: numbered, checksummed lines out; what the firmware's replies mean.

Pure functions and small types, shared by the host driver (`drivers/marlin.py`)
and the firmware simulator; the flow control lives in the driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

LINE_ERRORS = ("checksum mismatch", "line number is not", "no checksum", "no line number", "format error")
BENIGN_ERRORS = ("cold extrusion prevented", "too long extrusion prevented", "unknown command")
HALT_MARKERS = ("thermal runaway", "kill() called", "printer halted", "maxtemp", "mintemp", "heating failed")

OK_FIELD_RE = re.compile(r"\b([NPB])(\d+)")
OK_NUMBER_RE = re.compile(r"^ok\s+N\d+")
TEMP_RE = re.compile(r"(?<![A-Za-z@])(T|B):\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)")
RESEND_RE = re.compile(r"^(?:resend|rs)[:\s]*N?:?\s*(\d+)", re.IGNORECASE)
START_RE = re.compile(r"(?:^|[^A-Za-z0-9:_])start$")
FIRMWARE_KEYS = ("FIRMWARE_NAME", "SOURCE_CODE_URL", "PROTOCOL_VERSION", "MACHINE_TYPE", "EXTRUDER_COUNT", "UUID")


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
