"""What people read: times in the school's zone and their language on the board and in the gallery,
and flags that are pictures, not an emoji font's empty boxes."""

from __future__ import annotations

import asyncio
import re
import tomllib
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiohttp import ClientSession
from playwright.async_api import async_playwright

from classroomd.daemon.agent import Agent
from tests.foundation.conftest import agent_config
from tests.support.mosquitto import Mosquitto

CHROMIUM = "/usr/bin/chromium"
#: 09:14 UTC is 14:14 in Kazakhstan (UTC+5 nationwide since March 2024); a day that is not today.
TAKEN = "2026-03-01T09:14:14.895Z"
DATES = {"kk": "1 наурыз 2026, 14:14", "ru": "1 марта 2026, 14:14", "en": "1 March 2026, 14:14"}


@pytest.fixture
async def agent(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[Agent]:
    running = Agent(agent_config(tmp_path, mosquitto.url, agent={"timezone": "Asia/Almaty"},
                                 devices=[{"id": "panel-1", "kind": "panel", "name": "Front panel"}]))
    await running.start()
    try:
        assert await running.wait_connected(10)
        yield running
    finally:
        await running.stop()


async def save(agent: Agent, **meta: object) -> str:
    jpeg = cv2.imencode(".jpg", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()
    item = await asyncio.to_thread(agent.media.save_capture, jpeg, {"device": "scope-1", **meta})
    return item.id


async def test_the_gallery_shows_the_schools_date_in_each_language(agent: Agent) -> None:
    await save(agent, lesson="bio-7", caption="Пияз қабығы", created=TAKEN)
    async with ClientSession() as session:
        for lang, date in DATES.items():
            async with session.get(f"{agent.http_base}/lessons/bio-7?lang={lang}") as response:
                page = await response.text()
            assert date in page, (lang, page)
            assert not re.search(r">[^<]*\d{4}-\d\d-\d\dT", page), "no raw ISO timestamp a person reads"
            assert f'datetime="{TAKEN}"' in page  # the machine-readable original stays
        async with session.get(f"{agent.http_base}/api/v1/lessons/bio-7") as response:
            assert (await response.json())["media"][0]["created"] == TAKEN  # the API keeps ISO UTC


@pytest.mark.chromium
async def test_the_board_shows_a_captures_time_in_the_pages_language(agent: Agent) -> None:
    old, fresh = await save(agent, created=TAKEN, caption="Жасуша"), await save(agent)
    panel = agent.registry.get("panel-1")
    assert panel is not None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        pages = {}
        for lang in DATES:
            pages[lang] = page = await browser.new_page()
            await page.goto(f"{agent.http_base}/board?panel=panel-1&lang={lang}")
            await page.wait_for_selector("body[data-connected='1']")
        # `show` answers once the first board has it on screen; the others follow on their own.
        await panel.request("show", {"media": old})
        for lang, date in DATES.items():
            await pages[lang].wait_for_selector(f"#stage img.still[src='/media/{old}']")
            caption = await pages[lang].locator("#stage figcaption").text_content()
            assert caption == f"Жасуша · {date}", (lang, caption)
        await panel.request("show", {"media": fresh})  # taken today: the time alone
        await pages["kk"].wait_for_selector(f"#stage img.still[src='/media/{fresh}']")
        caption = await pages["kk"].locator("#stage figcaption").text_content()
        assert caption is not None and re.fullmatch(r"\d\d:\d\d", caption), caption
        await browser.close()


def countries() -> list[str]:
    text = resources.files("classroomd.config").joinpath("countries.toml").read_text(encoding="utf-8")
    return sorted(tomllib.loads(text))


async def test_every_country_of_the_cards_has_a_flag_served_offline(agent: Agent) -> None:
    async with ClientSession() as session:
        for code in countries():
            async with session.get(f"{agent.http_base}/board/flags/{code.lower()}.svg") as response:
                assert response.status == 200, code
                assert response.content_type == "image/svg+xml"
                assert (await response.text()).lstrip().startswith("<svg"), code
        for bad in ("xx.svg", "..%2Fboard.js", "kz.png"):
            async with session.get(f"{agent.http_base}/board/flags/{bad}") as response:
                assert response.status == 404, bad


@pytest.mark.chromium
async def test_a_country_cards_flag_is_the_flag_not_a_missing_glyph_box(agent: Agent) -> None:
    panel = agent.registry.get("panel-1")
    assert panel is not None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(f"{agent.http_base}/board?panel=panel-1&lang=kk")
        await page.wait_for_selector("body[data-connected='1']")
        await panel.request("show", {"card": {"type": "country", "iso": "KZ", "flag": "🇰🇿",
                                              "name": {"kk": "Қазақстан", "ru": "Казахстан", "en": "Kazakhstan"}}})
        flag = page.locator(".card .flag img")
        assert await flag.evaluate("img => img.complete && img.naturalWidth > 0")
        shot = cv2.imdecode(np.frombuffer(await flag.screenshot(), np.uint8), cv2.IMREAD_COLOR)
        await browser.close()
    height, width = shot.shape[:2]
    assert width > 100 and height > 75
    # Kazakhstan's sky blue (#00abc2) fills most of it, the golden sun and the ornament the rest;
    # a missing-glyph box is an outline on the card's dark background.
    sky = np.abs(shot.astype(int) - np.array([0xC2, 0xAB, 0x00])).sum(axis=2) < 60
    gold = np.abs(shot.astype(int) - np.array([0x2D, 0xEC, 0xFF])).sum(axis=2) < 90
    assert sky.mean() > 0.6, f"{sky.mean():.0%} of the flag is sky blue"
    assert gold.mean() > 0.03, f"{gold.mean():.0%} of the flag is golden"
