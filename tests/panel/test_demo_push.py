"""Done-when: with the demo classroom, one CLI command puts a microscope capture on the board in Chromium."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.async_api import async_playwright

from tests.support.mosquitto import Mosquitto, free_port, wait_port

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.chromium
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium")
async def test_one_command_shows_a_fresh_capture_on_the_demo_board(mosquitto: Mosquitto, tmp_path: Path) -> None:
    http_port = free_port()
    config = tmp_path / "demo.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    log = (tmp_path / "demo.log").open("wb")
    daemon = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "classroomd", "run", "--demo", "--config", str(config), "--broker", mosquitto.url,
         "--http", f"127.0.0.1:{http_port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        await asyncio.to_thread(wait_port, http_port, 30)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(f"http://127.0.0.1:{http_port}/board?panel=panel-1")
            await page.wait_for_selector("body[data-connected='1']")
            push = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "classroomd", "push", "--broker", mosquitto.url, "--panel", "panel-1",
                "--capture", "scope-1", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(push.communicate(), 60)
            assert push.returncode == 0, err.decode()
            text = out.decode()
            # The demo's globe shows country cards on the panel now and then, which may have woken it already.
            assert re.search(r"^power: (switched on|already on)$", text, re.M), text
            assert re.search(r"^input: (switched to|already on) hdmi1$", text, re.M), text
            assert "board: shown" in text
            media_id = next(line.split()[1] for line in text.splitlines() if line.startswith("media:"))
            assert await page.get_attribute("#stage img.still", "src") == f"/media/{media_id}"
            box = await page.locator("#stage img.still").bounding_box()
            assert box is not None and box["width"] > 600
            shot = cv2.imdecode(np.frombuffer(await page.screenshot(), np.uint8), cv2.IMREAD_COLOR)
            inside = shot[int(box["y"]):int(box["y"] + box["height"]), int(box["x"]):int(box["x"] + box["width"])]
            outside = shot[:, : max(1, int(box["x"]) - 2)]
            # The specimen is on screen: the picture's area is bright and varied, the board around it is dark.
            assert inside.mean() > 60 and inside.std() > 20 and outside.mean() < 30
            await browser.close()
    finally:
        daemon.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(daemon.wait, 20)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
    assert "Traceback" not in (tmp_path / "demo.log").read_text()
