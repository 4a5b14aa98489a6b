"""Linked lesson: a push on the hub school's panel -> shown on the magnet school's board.

Run: .venv/bin/python bench/linked_push.py [N]   (default 20 pushes per link)

Two agents in this process, one Mosquitto, both lesson boards open in a headless Chromium (Debian's
/usr/bin/chromium). The magnet's MQTT traffic goes through the tests' shaping proxy
(tests/support/link_proxy.py): first a clean link (no delay, no rate limit), then a degraded one
(1 Mbit/s, 150 ms each way). Each push is a new 1920x1080 capture (~1 MB JPEG) shown on the hub's
panel; the time runs from the hub's `show` request to the moment the magnet's panel has had its
board acknowledge the copy as shown. Bytes per push are counted at the proxy (broker -> magnet).
Then the live view: the hub's panel shows the demo microscope (1280x720, 15 fps), the magnet's board
shows it through the link at 1 Mbit/s and at 256 kbit/s (150 ms); after 3 s to settle, 10 s of
bitrate at the proxy and the age of each frame as it reaches the magnet (capture -> arrival).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from classroomd.daemon.agent import Agent  # noqa: E402
from classroomd.simulators.microscope import start_demo  # noqa: E402
from tests.linked.conftest import CHROMIUM, HUB, MAGNET, config, open_board, picture  # noqa: E402
from tests.support.link_proxy import LinkProxy  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run_link(name: str, rate_bps: float, delay_s: float, n: int, work: Path, browser: object) -> None:
    broker = Mosquitto(work / f"broker-{name}")
    broker.start()
    link = LinkProxy(broker.port, rate_bps=rate_bps, delay_s=delay_s)
    await link.start()
    hub = Agent(config(work / f"hub-{name}", HUB, broker.url))
    magnet = Agent(config(work / f"magnet-{name}", MAGNET, link.url))
    try:
        for agent in (hub, magnet):
            await agent.start()
            assert await agent.wait_connected(15)
        await open_board(browser, hub)
        await open_board(browser, magnet)
        lesson = hub.lessons.start("Биология", "Айгүл", None)
        assert hub.linked is not None and magnet.linked is not None
        hub.linked.start_hub(lesson.as_dict(), [MAGNET])
        while magnet.linked.role != "linked":
            await asyncio.sleep(0.05)
        pictures = [picture(((37 * i) % 200 + 30, (91 * i) % 200 + 30, (53 * i) % 200 + 30)) for i in range(n)]
        panel = hub.device("panel-1")
        assert panel is not None
        latencies: list[float] = []
        crossed: list[int] = []
        copies: list[int] = []
        for jpeg in pictures:
            item = await asyncio.to_thread(hub.media.save_capture, jpeg, {"device": "scope-1", "lesson": lesson.id})
            shown, before = magnet.linked.shown_here, link.down.bytes
            started = time.perf_counter()
            await panel.request("show", {"media": item.id})
            while magnet.linked.shown_here == shown:
                await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - started)
            crossed.append(link.down.bytes - before)
            copies.append(max(i.meta["bytes"] for i in magnet.media.all()
                              if i.meta.get("linked_origin") == f"{HUB}:{item.id}"))
        print(f"{name:9} link: push -> magnet board p50 {pct(latencies, 50) * 1000:6.0f} ms, "
              f"p99 {pct(latencies, 99) * 1000:6.0f} ms, max {max(latencies) * 1000:6.0f} ms; "
              f"original {statistics.mean(len(p) for p in pictures) / 1000:.0f} KB, remote copy "
              f"{statistics.mean(copies) / 1000:.1f} KB (max {max(copies) / 1000:.1f}), "
              f"bytes to the magnet per push {statistics.mean(crossed) / 1000:.1f} KB "
              f"(hub up {hub.linked.health()['bytes_up'] / n / 1000:.1f} KB/push)")
    finally:
        for agent in (hub, magnet):
            await agent.stop()
        await link.close()
        broker.stop()


async def run_live(name: str, rate_bps: float, work: Path, browser: object) -> None:
    broker = Mosquitto(work / f"broker-live-{name}")
    broker.start()
    link = LinkProxy(broker.port, rate_bps=rate_bps, delay_s=0.15)
    await link.start()
    scope = await start_demo(work / "sim")
    hub = Agent(config(work / f"hub-live-{name}", HUB, broker.url), demo_devices=[scope.config])
    magnet = Agent(config(work / f"magnet-live-{name}", MAGNET, link.url))
    try:
        for agent in (hub, magnet):
            await agent.start()
            assert await agent.wait_connected(15)
        await open_board(browser, hub)
        await open_board(browser, magnet)
        lesson = hub.lessons.start("Биология", "Айгүл", None)
        assert hub.linked is not None and magnet.linked is not None
        hub.linked.start_hub(lesson.as_dict(), [MAGNET])
        while magnet.linked.role != "linked":
            await asyncio.sleep(0.05)
        panel, microscope = hub.device("panel-1"), hub.device("scope-1")
        assert panel is not None and microscope is not None
        while microscope.snapshot()["status"] != "ready":
            await asyncio.sleep(0.1)
        await panel.request("show", {"stream": "scope-1"})
        await asyncio.sleep(3.0)
        before, ages, seen, sizes = link.down.bytes, [], -1, []
        for _ in range(500):
            live = magnet.linked.live
            if live is not None and live.seq != seen and live.jpeg is not None:
                seen = live.seq
                ages.append(live.age_s)
                sizes.append(len(live.jpeg))
            await asyncio.sleep(0.02)
        bitrate = (link.down.bytes - before) * 8 / 10.0
        print(f"live at {rate_bps / 1000:4.0f} kbit/s: {bitrate / 1000:5.0f} kbit/s used (budget 500), "
              f"{len(ages) / 10:.1f} frames/s of {statistics.mean(sizes) / 1000:.1f} KB, frame age p50 "
              f"{pct(ages, 50) * 1000:.0f} ms, p99 {pct(ages, 99) * 1000:.0f} ms, max {max(ages) * 1000:.0f} ms")
    finally:
        for agent in (hub, magnet):
            await agent.stop()
        await link.close()
        broker.stop()


async def main(n: int) -> None:
    logging.basicConfig(level=logging.ERROR)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        with tempfile.TemporaryDirectory() as tmp:
            await run_link("clean", 1e10, 0.0, n, Path(tmp), browser)
            await run_link("degraded", 1_000_000, 0.15, n, Path(tmp), browser)
            await run_live("1M", 1_000_000, Path(tmp), browser)
            await run_live("256k", 256_000, Path(tmp), browser)
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
