"""Uploads to the printer's SD card: file bytes/s reaching the card, against the wire's ceiling.

The simulator runs in its own process with baud pacing in both directions, so the link is
the only limit, and the upload is the ASCII one every Marlin has (`M28`, numbered and
checksummed lines with send-ahead, `M29`), checked against the card's listing. The card
file holds each command and `\\r\\n`; the wire carries `N<n> <cmd>*<cs>\\n` per line, so the
protocol's overhead caps the card rate below the wire's bytes/s (baud / 10).

Run: .venv/bin/python bench/sd_upload.py [LINES]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.marlin_stream import vase
from classroomd.drivers import marlin_sd
from classroomd.drivers.marlin import MarlinPort, MarlinSettings
from classroomd.drivers.marlin_protocol import encode_line
from classroomd.drivers.serial_link import SerialLink, SerialSettings


async def run(lines: list[str], baud: int) -> tuple[float, int]:
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classroomd.simulators.marlin_firmware", "--baud", str(baud), "--motion-scale", "0",
        stdout=asyncio.subprocess.PIPE)
    try:
        assert sim.stdout is not None
        path = (await sim.stdout.readline()).decode().strip()
        port = MarlinPort(SerialLink(path, SerialSettings(baud=baud)), MarlinSettings(reset_wait_s=2.0, timeout_s=2.0))
        await port.connect()
        size = marlin_sd.card_offsets(lines)[-1]
        await marlin_sd.mount(port)
        start = time.perf_counter()
        await marlin_sd.upload(port, "BENCH.GCO", lines)
        took = time.perf_counter() - start
        await marlin_sd.verify(port, "BENCH.GCO", size)
        resent = port.stats.lines_resent
        await port.close()
    finally:
        sim.terminate()
        await sim.wait()
    return size / took, resent


async def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    lines = vase(count)
    card = marlin_sd.card_offsets(lines)[-1]
    wire = sum(len(encode_line(10 + i, c)) for i, c in enumerate(lines))
    print(f"{count} lines: {card} bytes on the card, {wire} on the wire (ASCII upload, send-ahead)")
    print(f"{'baud':>7} {'card B/s':>9} {'wire B/s':>9} {'of wire':>8} {'resent':>7} {'1 MB takes':>11}")
    for baud in (115200, 250000):
        rate, resent = await run(lines, baud)
        wire_rate = rate * wire / card
        print(f"{baud:>7} {rate:>9.0f} {wire_rate:>9.0f} {wire_rate / (baud / 10):>8.2f} {resent:>7} "
              f"{1e6 / rate / 60:>9.1f} m", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
