"""Marlin streaming: lines/s to the simulated board over a pty, against the wire's ceiling.

The simulator runs in its own process (as a board would be its own computer) with
baud pacing in both directions and instant motion, so the link is the only limit.
The file is a vase-mode-like spiral of short segments. The ceiling is the baud
rate's bytes per second divided by the bytes each line takes on the wire
(`N<n> <cmd>*<cs>\\n`). One-in-flight waits for each `ok`; send-ahead keeps the
firmware's command buffer full (ADVANCED_OK).

Run: .venv/bin/python bench/marlin_stream.py [LINES]
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classroomd.drivers.marlin import MarlinPort, MarlinSettings, encode_line
from classroomd.drivers.serial_link import SerialLink, SerialSettings


def vase(lines: int) -> list[str]:
    """A spiral wall: 0.4 mm segments climbing 0.2 mm per turn, as slicers emit for vase mode."""
    out = []
    for i in range(lines):
        angle = i * 0.02
        out.append(f"G1 X{100 + 40 * math.cos(angle):.3f} Y{100 + 40 * math.sin(angle):.3f} "
                   f"Z{0.2 + i * 0.2 / 314:.3f} E{i * 0.0133:.5f}")
    return out


async def run(lines: list[str], baud: int, send_ahead: bool, error_rate: float) -> tuple[float, int]:
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classroomd.simulators.marlin_firmware", "--baud", str(baud), "--motion-scale", "0",
        "--error-rate", str(error_rate), stdout=asyncio.subprocess.PIPE)
    try:
        assert sim.stdout is not None
        path = (await sim.stdout.readline()).decode().strip()
        port = MarlinPort(SerialLink(path, SerialSettings(baud=baud)),
                          MarlinSettings(send_ahead=send_ahead, reset_wait_s=2.0, timeout_s=2.0))
        await port.connect()
        start = time.perf_counter()
        stream = await port.stream(lines)
        took = time.perf_counter() - start
        await port.close()
    finally:
        sim.terminate()
        await sim.wait()
    return len(lines) / took, stream.resent


async def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    lines = vase(count)
    file_bytes = sum(len(c) + 1 for c in lines) / count
    # Line numbers and checksums are the protocol's own overhead: the wire ceiling counts them, the
    # file ceiling (what the G-code alone would allow) does not.
    wire_bytes = sum(len(encode_line(10 + i, c)) for i, c in enumerate(lines)) / count
    print(f"{count} short segments: {file_bytes:.1f} bytes/line in the file, {wire_bytes:.1f} on the wire")
    print(f"{'baud':>7} {'mode':<14} {'errors':>7} {'lines/s':>8} {'of wire':>8} {'of file':>8} {'resent':>7}")
    for error_rate in (0.0, 1e-4):
        for baud in (115200, 250000):
            for send_ahead in (False, True):
                rate, resent = await run(lines, baud, send_ahead, error_rate)
                mode = "send-ahead" if send_ahead else "one-in-flight"
                print(f"{baud:>7} {mode:<14} {error_rate:>7g} {rate:>8.0f} {rate * wire_bytes / (baud / 10):>8.2f} "
                      f"{rate * file_bytes / (baud / 10):>8.2f} {resent:>7}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
