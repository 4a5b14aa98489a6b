"""Linked lesson: tablet ink on the hub's panel -> the magnet school's board, over a degraded link.

Run: .venv/bin/python bench/linked_ink.py [seconds]   (default 20 of continuous drawing per link)

Two agents in this process, one Mosquitto; the magnet's MQTT goes through the tests' shaping proxy
(tests/support/link_proxy.py) at 1 Mbit/s and then 256 kbit/s, 150 ms each way. The hub has a real
tablet device replaying a continuous 200 Hz pen recording (2 s spirals back to back), attached to the
hub's panel once a capture is shown there and on the magnet. Each board is a WebSocket client of its
agent's /board/ws, as the board page is. Latency runs from the tablet reading a pen report at the hub
to the magnet's board receiving that point (the newest point of each message); bytes are counted at
the proxy (broker -> magnet, everything on the magnet's connections) and as the hub's ink payloads.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classroomd.config.schema import Config  # noqa: E402
from classroomd.daemon.agent import Agent  # noqa: E402
from classroomd.devices.tablet import TabletDevice  # noqa: E402
from classroomd.drivers.evdev_input import EV_SYN, SYN_REPORT, InputEvent, write_recording  # noqa: E402
from classroomd.services.linked_ink import quantise  # noqa: E402
from classroomd.simulators.input import PEN_CAPS, pen_stroke  # noqa: E402
from tests.linked.conftest import HUB, MAGNET, BoardSocket, config, picture  # noqa: E402
from tests.support.link_proxy import LinkProxy  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def recording(seconds: float) -> list[tuple[float, int, int, int]]:
    events: list[tuple[float, int, int, int]] = []
    for k in range(int(seconds / 2) + 20):  # more than enough: the tablet is attached after the setup
        pts = [(0.5 + (0.1 + 0.002 * i % 0.3) * math.cos(i / 15 + k), 0.5 + 0.3 * math.sin(i / 15 + k))
               for i in range(400)]
        events += pen_stroke(pts, rate_hz=200)
    return [(0.5, EV_SYN, SYN_REPORT, 0), *events, (600.0, EV_SYN, SYN_REPORT, 0)]


def key(point: list[float] | tuple[float, ...]) -> int:
    return quantise(point) >> 8  # x and y as they cross the link


async def run(name: str, rate_bps: float, seconds: float, work: Path) -> None:
    broker = Mosquitto(work / f"broker-{name}")
    broker.start()
    link = LinkProxy(broker.port, rate_bps=rate_bps, delay_s=0.15)
    await link.start()
    rec = work / f"pen-{name}.json"
    write_recording(rec, PEN_CAPS, recording(seconds))
    hub_config = config(work / f"hub-{name}", HUB, broker.url)
    hub_config = Config.model_validate({**hub_config.model_dump(mode="json", exclude_none=True), "devices": [
        {"id": "panel-1", "kind": "panel"}, {"id": "tablet-1", "kind": "tablet", "source": f"replay://{rec}"}]})
    hub, magnet = Agent(hub_config), Agent(config(work / f"magnet-{name}", MAGNET, link.url))
    loop = asyncio.get_running_loop()
    try:
        for agent in (hub, magnet):
            await agent.start()
            assert await agent.wait_connected(15)
        tablet = hub.registry.get("tablet-1")
        assert isinstance(tablet, TabletDevice) and hub.linked is not None and magnet.linked is not None
        read_at: dict[int, float] = {}
        original = tablet.on_events

        def timed(batch: list[InputEvent]) -> None:
            before = len(tablet._stroke)
            original(batch)
            for point in tablet._stroke[before:]:
                read_at[key(point)] = loop.time()

        tablet.on_events = timed  # type: ignore[method-assign]
        async with BoardSocket(hub), BoardSocket(magnet) as magnet_board:
            lesson = hub.lessons.start("Биология", "Айгүл", None)
            hub.linked.start_hub(lesson.as_dict(), [MAGNET])
            while magnet.linked.role != "linked":
                await asyncio.sleep(0.05)
            item = await asyncio.to_thread(hub.media.save_capture, picture((40, 120, 200)), {"lesson": lesson.id})
            panel = hub.device("panel-1")
            assert panel is not None
            await panel.request("show", {"media": item.id})
            while magnet.linked.shown_here == 0:
                await asyncio.sleep(0.02)
            await tablet.request("attach", {"panel": "panel-1"})
            await asyncio.sleep(1.0)
            seen, latencies = len(magnet_board.messages), []
            down, sent = link.down.bytes, hub.linked.ink.sent_bytes
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                await asyncio.sleep(0.01)
                now = loop.time()
                for message in magnet_board.messages[seen:]:
                    for stroke in message.get("strokes") or []:
                        if stroke["points"] and not message.get("clear"):
                            at = read_at.get(key(stroke["points"][-1]))
                            if at is not None:
                                latencies.append((now - at) * 1000)
                seen = len(magnet_board.messages)
            took = time.monotonic() - started
            crossed = (link.down.bytes - down) / took
            payload = (hub.linked.ink.sent_bytes - sent) / took
            messages = len([m for m in magnet_board.messages if m.get("type") == "ink"])
        print(f"{name:>5} link, 150 ms: pen at the hub -> magnet board p50 {pct(latencies, 50):4.0f} ms, "
              f"p99 {pct(latencies, 99):4.0f} ms, max {max(latencies):4.0f} ms ({len(latencies)} points timed); "
              f"ink batches {payload:5.0f} B/s of payload, "
              f"{crossed:5.0f} B/s at the proxy to the magnet ({crossed * 8 / 1000:.1f} kbit/s); "
              f"{messages} ink messages to the board; hub tablet {tablet.strokes_drawn} strokes")
    finally:
        for agent in (hub, magnet):
            await agent.stop()
        await link.close()
        broker.stop()


async def main(seconds: float) -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        await run("1M", 1_000_000, seconds, Path(tmp))
        await run("256k", 256_000, seconds, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0))
