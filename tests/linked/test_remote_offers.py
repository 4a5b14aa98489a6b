"""Offers on the teachers' remotes, in real headless Chromium: a magnet room offers, the hub's teacher accepts
or dismisses (with the classroom PIN), and both remotes say what happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from classroomd.daemon.agent import Agent
from tests.linked.conftest import HUB, MAGNET, BoardSocket, board_current, config, picture, until
from tests.remote.conftest import screenshot_dir
from tests.support.link_proxy import LinkProxy
from tests.support.mosquitto import Mosquitto

pytestmark = [pytest.mark.chromium, pytest.mark.timeout(150)]

PIN = "2468"
GREEN, BLUE = (40, 200, 40), (220, 40, 30)  # BGR


@pytest.fixture
async def pair(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[Agent, Agent, LinkProxy]]:
    link = LinkProxy(mosquitto.port, rate_bps=1_000_000, delay_s=0.15)
    await link.start()
    agents = []
    for room, url in ((HUB, mosquitto.url), (MAGNET, link.url)):
        base = config(tmp_path / room.replace("/", "-"), room, url)
        agents.append(Agent(base.model_copy(update={"http": base.http.model_copy(update={"pin": PIN})})))
    for agent in agents:
        await agent.start()
    try:
        for agent in agents:
            assert await agent.wait_connected(15)
        yield agents[0], agents[1], link
    finally:
        for agent in agents:
            await agent.stop()
        await link.close()


async def open_remote(browser: Any, agent: Agent, lang: str) -> Page:
    context = await browser.new_context(viewport={"width": 412, "height": 915}, has_touch=True, is_mobile=True)
    await context.add_init_script(f"localStorage.setItem('classroomd.lang', '{lang}')")
    page: Page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{agent.http_base}/")
    await page.wait_for_selector("#linked-card:not([hidden])")
    return page


async def enter_pin(page: Page) -> None:
    await page.wait_for_selector("#pin-dialog[open]")
    await page.fill("#pin", PIN)
    await page.click("#pin-ok")


async def shown_from_magnet(hub: Agent, media_id: str) -> bool:
    content = (await board_current(hub))["content"] or {}
    item = hub.media.get(str(content.get("media")))
    return item is not None and item.meta.get("linked_origin") == f"{MAGNET}:{media_id}"


async def test_the_hubs_teacher_accepts_an_offer_on_her_remote(
        pair: tuple[Agent, Agent, LinkProxy], browser: Any) -> None:
    hub, magnet, link = pair
    async with BoardSocket(hub), BoardSocket(magnet):
        reply = await hub.actions.request("lesson_start", {"subject": "Биология", "teacher": "Айгүл",
                                                           "linked": [MAGNET]})
        await until(lambda: magnet.lesson is not None and magnet.lesson.id == reply["lesson"]["id"],
                    what="the magnet joined")
        assert magnet.lesson is not None
        green = await asyncio.to_thread(magnet.media.save_capture, picture(GREEN),
                                        {"device": "scope-2", "lesson": magnet.lesson.id, "caption": "пияз"})
        blue = await asyncio.to_thread(magnet.media.save_capture, picture(BLUE),
                                       {"device": "scope-2", "lesson": magnet.lesson.id})
        magnet_remote = await open_remote(browser, magnet, "ru")
        hub_remote = await open_remote(browser, hub, "kk")
        assert "kz-magnet/bio-7" in (await hub_remote.locator("#linked-now").text_content() or "")

        # The magnet's teacher offers a capture from her gallery; the PIN first, as for any action.
        await magnet_remote.click(f"#gallery button.offer[data-offer='{green.id}']")
        await enter_pin(magnet_remote)
        await magnet_remote.wait_for_selector("#my-offer[data-state='waiting']")
        assert "ожидает" in (await magnet_remote.locator("#my-offer").text_content() or "")

        # The hub's remote shows the offer with its thumbnail, which came in the offer itself.
        row = f"#offers .offer[data-room='{MAGNET}']"
        await hub_remote.wait_for_selector(f"{row} img", timeout=20000)
        await hub_remote.wait_for_function(f"() => document.querySelector(\"{row} img\").naturalWidth > 0")
        assert await hub_remote.locator(f"{row} .accept").text_content() == "Менің панелімде көрсету"
        assert not await shown_from_magnet(hub, green.id)  # nothing on the hub's panel before she accepts
        if (shots := screenshot_dir()) is not None:
            await hub_remote.locator("#linked-card").screenshot(path=str(shots / "remote-linked-offer.png"))
            await magnet_remote.locator("#gallery-card").screenshot(path=str(shots / "remote-offer-to-hub.png"))

        down_before = link.down.bytes
        await hub_remote.click(f"{row} .accept")
        await enter_pin(hub_remote)
        await until(lambda: shown_from_magnet(hub, green.id), timeout=20, what="the offer on the hub's board")
        await hub_remote.wait_for_selector(row, state="detached")
        await magnet_remote.wait_for_selector("#my-offer[data-state='shown']", timeout=20000)
        assert link.down.bytes - down_before < 40_000  # the magnet shows its own original: nothing fetched

        # A second offer, dismissed: the hub's board stays, the magnet is told.
        await magnet_remote.click(f"#gallery button.offer[data-offer='{blue.id}']")
        await magnet_remote.wait_for_selector("#my-offer[data-state='waiting']")
        await hub_remote.wait_for_selector(f"{row} .dismiss", timeout=20000)
        await hub_remote.click(f"{row} .dismiss")
        await hub_remote.wait_for_selector(row, state="detached")
        await magnet_remote.wait_for_selector("#my-offer[data-state='dismissed']", timeout=20000)
        assert "отклонено" in (await magnet_remote.locator("#my-offer").text_content() or "")
        assert await shown_from_magnet(hub, green.id)
        assert magnet_remote.errors == [] and hub_remote.errors == []  # type: ignore[attr-defined]
