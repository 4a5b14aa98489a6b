"""Ink end to end: a tablet's strokes appear over a capture on the lesson board in a real
headless Chromium, and land as vector annotations in the capture's sidecar."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.async_api import async_playwright

from classroomd.daemon.agent import Agent
from classroomd.devices.tablet import TabletDevice
from classroomd.drivers.evdev_input import EV_SYN, SYN_REPORT, write_recording
from classroomd.simulators.input import PEN_CAPS, pen_stroke
from tests.foundation.conftest import agent_config
from tests.support.mosquitto import Mosquitto

CHROMIUM = "/usr/bin/chromium"
# The tablet's ink colour, BGR as OpenCV reads the screenshot.
INK_BGR = np.array([0x35, 0x39, 0xE5])


def ink_mask(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    distance = np.abs(image.astype(int) - INK_BGR).sum(axis=2)
    return distance < 60


def red_pixels(png: bytes) -> int:
    return int(ink_mask(png).sum())


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is installed by scripts/system-deps.sh")
async def test_tablet_ink_is_drawn_over_the_capture_and_saved(tmp_path: Path, mosquitto: Mosquitto) -> None:
    zigzag = [(0.2 + 0.6 * i / 60, 0.3 + 0.4 * abs(math.sin(i / 6))) for i in range(61)]
    recording = tmp_path / "pen.json"
    # A stroke every ~1.5 s, looped: whichever comes after `attach` goes to the board.
    write_recording(recording, PEN_CAPS, [*pen_stroke(zigzag, rate_hz=120), (1.0, EV_SYN, SYN_REPORT, 0)])
    config = agent_config(tmp_path, mosquitto.url, devices=[
        {"id": "panel-1", "kind": "panel", "name": "Front panel"},
        {"id": "tablet-1", "kind": "tablet", "source": f"replay://{recording}", "ink_width": 6},
    ])
    agent = Agent(config)
    await agent.start()
    try:
        assert await agent.wait_connected(10)
        gray = cv2.imencode(".jpg", np.full((720, 1280, 3), 128, np.uint8))[1].tobytes()
        item = agent.media.save_capture(gray, {"device": "scope-1", "width": 1280, "height": 720})
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(f"{agent.http_base}/board?panel=panel-1&lang=en")
            panel = agent.registry.get("panel-1")
            tablet = agent.registry.get("tablet-1")
            assert panel is not None and isinstance(tablet, TabletDevice)
            for _ in range(50):  # the page connects its WebSocket after loading
                if agent.board.connected("panel-1"):
                    break
                await asyncio.sleep(0.1)
            await panel.request("show", {"media": item.id})
            before = red_pixels(await page.screenshot())
            await tablet.request("attach", {"panel": "panel-1"})
            drawn = tablet.strokes_drawn
            for _ in range(100):
                if tablet.strokes_drawn >= drawn + 2:  # one whole stroke after attaching
                    break
                await asyncio.sleep(0.1)
            await page.wait_for_function("Number(document.getElementById('ink').dataset.strokes || 0) > 0")
            shot = await page.screenshot(path=str(tmp_path / "board.png"))
            after = red_pixels(shot)
            await browser.close()
        assert before == 0
        assert after > 500, f"the stroke should be visible over the capture; {after} ink pixels (see board.png)"
        # The tablet (157.5 x 98.4 mm, aspect 1.6) maps onto a centred 1152 x 720 box of the
        # 1280 x 720 board, so the stroke's x from 0.2 to 0.8 spans 294..985 px, not 256..1024.
        xs = np.nonzero(ink_mask(shot).any(axis=0))[0]
        assert abs(int(xs.min()) - 294) <= 8 and abs(int(xs.max()) - 985) <= 8, (xs.min(), xs.max())
        saved = agent.media.get(item.id)
        assert saved is not None and saved.meta.get("annotations"), "finished strokes belong in the sidecar"
        assert all(a["device"] == "tablet-1" for a in saved.meta["annotations"])
    finally:
        await agent.stop()
