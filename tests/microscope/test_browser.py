"""Chromium shows the live stream in an <img>, downscaled and moving: browsers parse our multipart."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from tests.microscope.web import WebHost, serve

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE = """<!doctype html><meta charset="utf-8"><title>live</title>
<img id="live" src="/devices/scope-1/stream?width=160">
<canvas id="c" width="160" height="120"></canvas>
<script>
function pixels() {
  const img = document.getElementById("live"), c = document.getElementById("c").getContext("2d");
  c.drawImage(img, 0, 0);
  return Array.from(c.getImageData(0, 0, 160, 120).data.filter((_, i) => i % 97 === 0)).join(",");
}
</script>"""


@pytest.fixture
def host(tmp_path: Path) -> WebHost:
    return WebHost(tmp_path / "state")


@pytest.fixture
async def server(host: WebHost) -> AsyncIterator[web.AppRunner]:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    runner = await serve(host, [web.get("/live.html", page)])
    yield runner
    await runner.cleanup()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
async def test_chromium_plays_the_stream_in_an_img(make_scope: Callable[..., Any], video: Path, host: WebHost,
                                                   server: web.AppRunner) -> None:
    await make_scope(video)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(f"{host.base_url}/live.html")
            await page.wait_for_function("document.getElementById('live').naturalWidth === 160", timeout=10_000)
            first = await page.evaluate("pixels()")
            await page.wait_for_function(f"pixels() !== {first!r}", timeout=10_000, polling=100)
            assert await page.evaluate("document.getElementById('live').naturalHeight") == 120
        finally:
            await browser.close()
