"""Done-when of issue 21 in a real headless Chromium against a real agent with the demo's devices:
a pupil's globe and tablet do not take the board from the teacher; handed over, the globe does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.async_api import Page, async_playwright

from classroomd.daemon.agent import Agent
from classroomd.daemon.demo import start_simulators, stop_simulators
from classroomd.devices.panel import PanelDevice
from classroomd.simulators.globe import GlobeSimulator
from tests.foundation.conftest import agent_config
from tests.support.mosquitto import Mosquitto

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.chromium, pytest.mark.timeout(120)]
#: The capture's colour (RGB): far from the tablet's red ink and from the board's dark background.
CAPTURE_RGB = (40, 170, 70)
#: Where the capture is sampled, as fractions of the picture: clear of the demo pen's circle and wave.
SAMPLES = ((0.5, 0.5), (0.08, 0.1), (0.92, 0.12), (0.1, 0.55))
#: How long pupils play while the teacher's capture is up (the issue says 30 s; the demo's globe and pen
#: repeat themselves well within this, and the suite runs on two shared cores).
PLAY_S = 12.0


class Classroom:
    def __init__(self, agent: Agent, globe: GlobeSimulator) -> None:
        self.agent, self.globe = agent, globe

    @property
    def panel(self) -> PanelDevice:
        panel = self.agent.registry.get("panel-1")
        assert isinstance(panel, PanelDevice)
        return panel


@pytest.fixture
async def classroom(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[Classroom]:
    sims = await start_simulators(tmp_path / "sims", {"microscope", "printer", "touch_table"})
    globe = next(s.handle for s in sims if isinstance(s.handle, GlobeSimulator))
    config = agent_config(tmp_path, mosquitto.url, agent={"timezone": "Asia/Almaty"},
                          devices=[s.config.model_dump(mode="json", exclude_none=True) for s in sims])
    agent = Agent(config)
    await agent.start()
    try:
        assert await agent.wait_connected(10)
        for _ in range(100):
            if all(agent.registry.get(d) is not None for d in ("panel-1", "globe-1", "tablet-1")):
                break
            await asyncio.sleep(0.1)
        yield Classroom(agent, globe)
    finally:
        await agent.stop()
        await stop_simulators(sims)


async def capture_colours(page: Page) -> list[tuple[int, int, int]]:
    """The screen's colours (RGB) at the sample points of the capture, from a real screenshot."""
    box = await page.locator("#stage img.still").bounding_box()
    assert box is not None
    shot = cv2.imdecode(np.frombuffer(await page.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    out = []
    for fx, fy in SAMPLES:
        b, g, r = shot[int(box["y"] + fy * box["height"]), int(box["x"] + fx * box["width"])]
        out.append((int(r), int(g), int(b)))
    return out


def is_capture(colour: tuple[int, int, int]) -> bool:
    return sum(abs(a - b) for a, b in zip(colour, CAPTURE_RGB, strict=True)) < 45


async def test_pupils_devices_leave_the_teachers_capture_until_the_board_is_handed_over(
        classroom: Classroom) -> None:
    agent = classroom.agent
    jpeg = cv2.imencode(".jpg", np.full((720, 1280, 3), CAPTURE_RGB[::-1], np.uint8))[1].tobytes()
    capture = await asyncio.to_thread(agent.media.save_capture, jpeg, {"device": "scope-1", "width": 1280,
                                                                        "height": 720})
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(f"{agent.http_base}/board?panel=panel-1&lang=en")
        await page.wait_for_selector("body[data-connected='1']")
        await classroom.panel.request("show", {"media": capture.id})
        # Every note that ever appears is counted, however briefly it stays.
        await page.evaluate("""() => { window.notesSeen = []; new MutationObserver((changes) => {
            for (const change of changes) for (const node of change.addedNodes)
                if (node.classList && node.classList.contains('note')) window.notesSeen.push(node.textContent);
            for (const change of changes) if (change.target.classList && change.target.classList.contains('note'))
                window.notesSeen.push(change.target.textContent);
        }).observe(document.getElementById('notes'), {childList: true, subtree: true}); }""")

        codes = [0x01, 0x02, 0x03, 0x04, 0x05, 0x09, 0x0A]
        deadline = time.monotonic() + PLAY_S
        touched = 0
        while time.monotonic() < deadline:
            classroom.globe.touch(codes[touched % len(codes)])
            touched += 1
            await asyncio.sleep(1.2)
            assert await page.get_attribute("#stage img.still", "src") == f"/media/{capture.id}"
            colours = await capture_colours(page)
            assert all(is_capture(c) for c in colours), colours
        seen: list[str] = await page.evaluate("window.notesSeen")
        assert len([s for s in seen if s.startswith("Demo smart globe")]) >= touched - 2, seen
        assert any("Kazakhstan" in s for s in seen), seen
        strokes = int(await page.get_attribute("#ink", "data-strokes") or 0)
        assert strokes > 0, "the demo tablet's ink is drawn over the teacher's capture"
        # The notes go by themselves: none is left a few seconds after the last touch.
        await page.wait_for_function("document.querySelectorAll('#notes .note').length === 0",
                                     timeout=(classroom.panel.opts.notes_s + 3) * 1000)
        assert await page.locator(".card").count() == 0
        assert classroom.panel.snapshot()["focus"]["holder"] == "teacher"

        reply = await classroom.panel.request("hand", {"device": "globe-1"})
        assert reply["focus"]["holder"] == "globe-1"
        await page.wait_for_selector(".card[data-type=country] .flag img")
        classroom.globe.touch(0x01)
        await page.wait_for_function("document.querySelector('.card h1')?.textContent === 'Kazakhstan'")
        focus = agent.device_snapshots()["panel-1"]["focus"]  # what the bus publishes as the panel's state
        assert focus["holder"] == "globe-1" and focus["kind"] == "globe" and focus["name"] == "Demo smart globe"

        await classroom.panel.request("take_back", {})
        await page.wait_for_selector("#stage img.still")
        assert await page.get_attribute("#stage img.still", "src") == f"/media/{capture.id}"
        assert all(is_capture(c) for c in await capture_colours(page))
        await browser.close()

