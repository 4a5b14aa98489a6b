"""Ask a serial port what firmware is behind it, only where that is known to be safe.

`M115` is a read-only Marlin/Prusa/Klipper query; its answer carries `FIRMWARE_NAME:`. It is sent
only to ports the catalog marks as printers or the config declares as printers: a generic
USB-serial bridge might have a panel or a globe behind it, which must never receive G-code.
No answer leaves the device unidentified; nothing is guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field

from classroomd.drivers.serial_link import LinkClosed, LinkPermissionError, SerialLink, SerialSettings

FIRMWARE_RE = re.compile(r"FIRMWARE_NAME:\s*(.+?)(?=\s+[A-Z_]+:|$)")
FIELD_RE = re.compile(r"([A-Z_]+):(\S.*?)(?=\s+[A-Z_]+:|$)")


@dataclass
class ProbeResult:
    port: str
    identified: bool
    firmware: str = ""
    #: Every `KEY:value` of the M115 line (MACHINE_TYPE, PROTOCOL_VERSION, UUID …).
    fields: dict[str, str] = field(default_factory=dict)
    #: `Cap:NAME:0|1` lines.
    capabilities: dict[str, bool] = field(default_factory=dict)
    #: What the port said (at most a few lines), for `discover`.
    answer: list[str] = field(default_factory=list)
    reason: str = ""
    permission_denied: bool = False

    def explain(self) -> str:
        if self.identified:
            return f"probe M115 → FIRMWARE_NAME:{self.firmware}"
        return f"probe M115 → {self.reason}"


def parse_m115(line: str) -> dict[str, str]:
    return {m.group(1): m.group(2).strip() for m in FIELD_RE.finditer(line.strip())}


async def probe_m115(port: str, baud: int = 115200, timeout: float = 4.0, resend_s: float = 1.0) -> ProbeResult:
    """Send `M115` (again every `resend_s`: boards reset when the port opens) until an answer or timeout."""
    link = SerialLink(port, SerialSettings(baud=baud))
    try:
        await link.open()
    except LinkPermissionError as exc:
        return ProbeResult(port, False, reason=str(exc), permission_denied=True)
    except LinkClosed as exc:
        return ProbeResult(port, False, reason=str(exc))
    result = ProbeResult(port, False)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not result.identified:
            await link.write(b"M115\n")
            resend_at = min(deadline, time.monotonic() + resend_s)
            while time.monotonic() < resend_at:
                try:
                    raw = await asyncio.wait_for(link.readline(), resend_at - time.monotonic())
                except TimeoutError:
                    break
                text = raw.decode("ascii", "replace").strip()
                if not text:
                    continue
                if len(result.answer) < 12:
                    result.answer.append(text)
                if text.startswith("Cap:"):
                    name, _, value = text[4:].partition(":")
                    result.capabilities[name] = value.strip() == "1"
                elif "FIRMWARE_NAME:" in text:
                    result.fields = parse_m115(text[text.index("FIRMWARE_NAME:"):])
                    result.firmware = result.fields.get("FIRMWARE_NAME", "")
                    result.identified = True
                elif text == "ok" and result.identified:
                    break
            if result.identified:
                # Collect the Cap: lines that follow the firmware line, briefly.
                with contextlib.suppress(TimeoutError, LinkClosed):
                    while True:
                        raw = await asyncio.wait_for(link.readline(), 0.2)
                        text = raw.decode("ascii", "replace").strip()
                        if text.startswith("Cap:"):
                            name, _, value = text[4:].partition(":")
                            result.capabilities[name] = value.strip() == "1"
                        elif text == "ok":
                            break
    except LinkClosed as exc:
        result.reason = f"the port closed during the probe: {exc}"
        return result
    finally:
        await link.close()
    if not result.identified:
        heard = f"; it said: {' | '.join(result.answer[:3])}" if result.answer else ""
        result.reason = f"no FIRMWARE_NAME in {timeout:.0f} s{heard}"
    return result
