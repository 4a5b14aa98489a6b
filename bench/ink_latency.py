"""Pen-to-board latency for ink, and the daemon's CPU while a tablet streams at 200 Hz.

Run: .venv/bin/python bench/ink_latency.py [seconds]   (default 15)

A real Agent (embedded broker, HTTP server, BoardHub) with a display-only panel
and a tablet replaying a continuous 200 Hz pen recording; a WebSocket client
connects to /board/ws like the board page does. Latency is measured from the
moment the tablet read a pen report to the moment the WebSocket message carrying
that point arrived, for the newest point of every ink message (batches are sent
at most 30 times a second, so older points of a batch waited up to 33 ms by design).
Everything runs in one process: CPU % includes the bench's own client.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
from benchnet import free_port

from classroomd.config.schema import Config
from classroomd.daemon.agent import Agent
from classroomd.devices.tablet import TabletDevice
from classroomd.drivers.evdev_input import EV_SYN, SYN_REPORT, InputEvent, write_recording
from classroomd.simulators.input import PEN_CAPS, pen_stroke

IDLE_S = 4.0


def recording(seconds: float) -> list[tuple[float, int, int, int]]:
    events: list[tuple[float, int, int, int]] = []
    strokes = int(seconds / 2) + 1
    for k in range(strokes):  # 2 s strokes at 200 Hz, each a slightly different spiral
        pts = [(0.5 + (0.1 + 0.002 * i % 0.3) * math.cos(i / 15 + k), 0.5 + 0.3 * math.sin(i / 15 + k))
               for i in range(400)]
        events += pen_stroke(pts, rate_hz=200)
    # The pen stays away for the first IDLE_S seconds: the idle baseline is measured then.
    return [(IDLE_S + 1.0, EV_SYN, SYN_REPORT, 0), *events, (600.0, EV_SYN, SYN_REPORT, 0)]


async def run(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rec = Path(tmp) / "pen.json"
        write_recording(rec, PEN_CAPS, recording(seconds))
        config = Config.model_validate({
            "mqtt": {"url": f"embedded://127.0.0.1:{free_port()}"},
            "agent": {"state_dir": f"{tmp}/state", "health_interval_s": 60},
            "http": {"listen": "127.0.0.1:0"},
            "devices": [
                {"id": "panel-1", "kind": "panel", "name": "display only"},
                {"id": "tablet-1", "kind": "tablet", "source": f"replay://{rec}", "panel": "panel-1"},
            ],
        })
        agent = Agent(config)
        await agent.start()
        loop = asyncio.get_running_loop()
        read_at: dict[tuple[float, float], float] = {}
        tablet = agent.registry.get("tablet-1")
        assert isinstance(tablet, TabletDevice)
        original = tablet.on_events

        def timed(batch: list[InputEvent]) -> None:
            before = len(tablet._stroke)
            original(batch)
            for point in tablet._stroke[before:]:
                read_at[(point[0], point[1])] = loop.time()

        tablet.on_events = timed  # type: ignore[method-assign]
        latencies: list[float] = []
        proc = psutil.Process()
        async with aiohttp.ClientSession() as http:
            base = agent.http_base
            async with http.ws_connect(f"{base}/board/ws?panel=panel-1") as ws:
                # Baseline: the same process with the pen away (broker, HTTP, bus, health).
                proc.cpu_percent(None)
                await asyncio.sleep(IDLE_S - 0.5)
                idle_cpu = proc.cpu_percent(None)
                while not tablet.strokes_drawn and not tablet._stroke:
                    await asyncio.sleep(0.01)
                proc.cpu_percent(None)
                started = time.monotonic()
                while time.monotonic() - started < seconds:
                    try:
                        msg = await asyncio.wait_for(ws.receive_json(), 1)
                    except TimeoutError:
                        continue
                    if msg.get("type") != "ink" or not msg.get("strokes"):
                        continue
                    points = msg["strokes"][0]["points"]
                    if points:
                        sent = read_at.get((points[-1][0], points[-1][1]))
                        if sent is not None:
                            latencies.append((loop.time() - sent) * 1000)
                cpu = proc.cpu_percent(None)
        await agent.stop()
    latencies.sort()
    if not latencies:
        print("no ink messages received")
        return
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"ink messages: {len(latencies)} in {seconds:.0f}s ({len(latencies) / seconds:.1f}/s; cap 30/s)")
    print(f"pen report read -> WebSocket received, newest point: median {statistics.median(latencies):.2f} ms, "
          f"p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms (target p99 < 30 ms)")
    print(f"process CPU while the tablet streams at 200 Hz: {cpu:.1f} % of one core (target < 5 %); "
          f"pen away: {idle_cpu:.1f} %; streaming adds {cpu - idle_cpu:.1f} %")
    print("  (one process: the replay simulator, the embedded broker and this bench's WebSocket client are included)")


def main() -> None:
    asyncio.run(run(float(sys.argv[1]) if len(sys.argv) > 1 else 15.0))


if __name__ == "__main__":
    main()
