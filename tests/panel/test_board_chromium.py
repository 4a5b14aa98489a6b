"""The lesson board in a real headless Chromium against a real aiohttp server."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from typing import Any

import cv2
import numpy as np
import pytest
from playwright.async_api import Page, async_playwright

from classroomd.simulators.panel_smart import SmartPanelSim
from tests.panel.support import Server, WebHost, start_panel, start_scope

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.chromium,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium")]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        await chromium.close()


async def open_board(browser: Any, server: Server, lang: str = "kk") -> Page:
    page: Page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(f"{server.url}/board?panel=panel-1&lang={lang}")
    await page.wait_for_selector("body[data-connected='1']")
    return page






async def pixel_at(page: Page, selector: str) -> tuple[int, int, int]:
    """The screen's colour (RGB) at the centre of an element, read from a real screenshot."""
    box = await page.locator(selector).bounding_box()
    assert box is not None
    shot = cv2.imdecode(np.frombuffer(await page.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    b, g, r = shot[int(box["y"] + box["height"] / 2), int(box["x"] + box["width"] / 2)]
    return int(r), int(g), int(b)


async def test_a_capture_is_shown_acknowledged_and_survives_a_reload(
        sim: SmartPanelSim, host: WebHost, server: Server, browser: Any) -> None:
    panel = await start_panel(host, sim.path)
    scope = await start_scope(host)
    media_id = (await scope.request("capture", {}))["media_id"]
    page = await open_board(browser, server)

    reply = await panel.request("show", {"media": media_id})
    assert reply["board"]["kind"] == "media" and reply["board"]["width"] == 640
    assert [s["done"] for s in reply["steps"]] == ["switched on", "switched to hdmi1", "shown"]
    # The reply came after the ack, and the ack after the picture was on screen: no waiting here.
    assert await page.get_attribute("#stage img.still", "src") == f"/media/{media_id}"
    red, green, blue = await pixel_at(page, "#stage img.still")
    assert red > 200 and green < 60 and blue < 60

    await page.reload()
    await page.wait_for_selector("#stage img.still")
    assert await page.get_attribute("#stage img.still", "src") == f"/media/{media_id}"
    await panel.stop()


async def test_the_scale_bar_is_true_to_um_per_px(host: WebHost, server: Server, browser: Any) -> None:
    panel = await start_panel(host, None)
    scope = await start_scope(host, um_per_px=2.0, size=(640, 480))
    media_id = (await scope.request("capture", {}))["media_id"]
    page = await open_board(browser, server)
    await panel.request("show", {"media": media_id})
    geometry = await page.evaluate("""() => {
        const img = document.querySelector('img.still');
        const bar = document.querySelector('.scalebar');
        return {shown: img.getBoundingClientRect().width, natural: img.naturalWidth, um: Number(bar.dataset.um),
                px: bar.querySelector('.bar').getBoundingClientRect().width,
                label: bar.querySelector('.label').textContent};
    }""")
    screen_per_image_px = geometry["shown"] / geometry["natural"]
    # The bar's length on screen, converted back through the picture's scale, is exactly its label.
    assert geometry["px"] / screen_per_image_px * 2.0 == pytest.approx(geometry["um"], rel=0.01)
    assert geometry["um"] in {10, 20, 50, 100, 200, 500, 1000}
    assert 0.08 < geometry["px"] / geometry["shown"] < 0.25
    assert geometry["label"] == f"{geometry['um']:g} µm"


async def test_no_scale_bar_without_calibration(host: WebHost, server: Server, browser: Any) -> None:
    panel = await start_panel(host, None)
    scope = await start_scope(host, um_per_px=None)
    media_id = (await scope.request("capture", {}))["media_id"]
    page = await open_board(browser, server)
    await panel.request("show", {"media": media_id})
    assert await page.locator(".scalebar").count() == 0


async def test_the_live_stream_moves(host: WebHost, server: Server, browser: Any) -> None:
    panel = await start_panel(host, None)
    scope = await start_scope(host)
    page = await open_board(browser, server)
    reply = await panel.request("show", {"stream": "scope-1"})
    assert reply["board"]["first_frame"] is True
    assert await page.get_attribute("#stage img.live", "src") == "/devices/scope-1/stream"
    frames_before = scope.frames
    first = await page.locator("#stage img.live").screenshot()
    while scope.frames < frames_before + 3:
        await page.wait_for_timeout(100)
    second = await page.locator("#stage img.live").screenshot()
    assert first != second

    await panel.request("show", {"clear": True})  # leaving the stream closes its connection
    await page.wait_for_selector("#stage .eyes")
    settled = scope.frames
    await page.wait_for_timeout(500)
    assert scope.frames <= settled + 1


async def test_cards_and_the_blank_screen_in_the_pages_language(
        host: WebHost, server: Server, browser: Any) -> None:
    panel = await start_panel(host, None)
    page = await open_board(browser, server, lang="ru")
    await panel.request("show", {"card": {"type": "country", "code": "KZ",
                                          "name": {"kk": "Қазақстан", "ru": "Казахстан", "en": "Kazakhstan"},
                                          "capital": {"kk": "Астана", "ru": "Астана", "en": "Astana"}}})
    card = page.locator(".card[data-type=country]")
    assert await card.locator("h1").text_content() == "Казахстан"
    assert await card.locator(".flag img").get_attribute("src") == "/board/flags/kz.svg"  # an image, not an emoji
    assert "Столица" in (await card.text_content() or "")

    await panel.request("show", {"card": {"type": "print", "name": "Жасуша моделі", "progress": 0.42, "eta_s": 600}})
    progress = page.locator(".card[data-type=print]")
    assert "42%" in (await progress.text_content() or "")
    assert await progress.locator(".progress > div").evaluate("e => e.style.width") == "42%"

    await panel.request("show", {"clear": True})
    assert await page.locator(".eyes").text_content() == "Смотрим на доску!"


async def test_ink_draws_on_the_overlay(host: WebHost, server: Server, browser: Any) -> None:
    await start_panel(host, None)
    page = await open_board(browser, server)
    stroke = {"points": [[0.1, 0.5, 0.5], [0.5, 0.5, 0.8], [0.9, 0.5, 1.0]], "color": "#00ff00"}
    assert host.board.send("panel-1", {"type": "ink", "strokes": [stroke, stroke]}) == 1
    await page.wait_for_selector("#ink[data-strokes='2']")
    painted = await page.evaluate("""() => {
        const c = document.getElementById('ink');
        const at = (x, y) => Array.from(c.getContext('2d').getImageData(x * c.width, y * c.height, 1, 1).data);
        return {on: at(0.3, 0.5), off: at(0.3, 0.2)};
    }""")
    assert painted["on"][1] > 200 and painted["on"][3] > 200  # green and opaque on the line
    assert painted["off"][3] == 0
    host.board.send("panel-1", {"type": "ink", "clear": True, "strokes": []})
    await page.wait_for_selector("#ink[data-strokes='0']")


async def test_the_board_reconnects_after_the_server_restarts(
        host: WebHost, server: Server, browser: Any) -> None:
    panel = await start_panel(host, None)
    page = await open_board(browser, server)
    await server.stop()
    await page.wait_for_selector("body[data-connected='0']")
    assert await page.locator("#status").text_content() == "Байланыс үзілді, қайта қосылуда…"
    await server.start()
    await page.wait_for_selector("body[data-connected='1']", timeout=15000)
    reply = await panel.request("show", {"card": {"type": "text", "title": "Қайта қосылды"}})
    assert reply["board"]["kind"] == "card"
    assert await page.locator(".card h1").text_content() == "Қайта қосылды"


async def test_many_pushes_leave_no_trace_in_the_page(host: WebHost, server: Server, browser: Any) -> None:
    panel = await start_panel(host, None)
    scope = await start_scope(host)
    media = [(await scope.request("capture", {}))["media_id"] for _ in range(3)]
    page = await open_board(browser, server)
    count_nodes = "() => document.getElementsByTagName('*').length"
    contents = [{"media": m} for m in media] + [{"stream": "scope-1"}, {"clear": True},
                                                 {"card": {"type": "print", "progress": 10}}]
    for content in contents:
        await panel.request("show", content)
    baseline = await page.evaluate(count_nodes)
    for _ in range(10):
        for content in contents:
            await panel.request("show", content)
    assert await page.evaluate(count_nodes) == baseline
    # Shows racing each other all get an answer, and the board ends on the last one sent.
    replies = await asyncio.gather(*(panel.request("show", {"media": m}) for m in media))
    assert len(replies) == 3
    await page.wait_for_function(f"() => document.querySelector('#stage img.still')?.getAttribute('src')"
                                 f" === '/media/{media[-1]}'")
    assert await page.locator("#stage img.live").count() == 0
