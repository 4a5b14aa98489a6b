"""The fleet page in a real headless Chromium, over central, a real Mosquitto and simulated classrooms."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page

from classroomd.central import accounts, i18n
from classroomd.central.db import open_database
from classroomd.central.simulate import SimClassroom
from tests.central.harness import Central, wait_for
from tests.support.mosquitto import Mosquitto

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.chromium,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium")]
PASSWORD = "mektep-2026"
#: a cell in the page's script: its link is its name
CELL = """document.querySelector('a[href="/rooms/{}"]')"""
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"


@pytest.fixture
async def district(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[Central, list[SimClassroom]]]:
    db = f"sqlite:///{tmp_path / 'central.sqlite3'}"
    server = Central(mosquitto.url, db, tmp_path / "central-state")
    await server.start()
    engine = await open_database(db)
    try:
        await accounts.ensure_tables(engine)
        for name, role in (("aigul", "viewer"), ("erlan", "engineer")):
            await accounts.set_account(engine, name, role, PASSWORD)
    finally:
        await engine.dispose()
    sims = [SimClassroom(mosquitto.url, f"school-{i // 2 + 1}", f"room-{i % 2 + 1}") for i in range(6)]
    try:
        for sim in sims[:5]:  # the sixth never connects: central has not seen it
            await sim.start(health_loop=False)
        for sim in sims[:5]:
            await server.wait_presence(sim.site, sim.room, "online")
        yield server, sims
    finally:
        for sim in sims[:5]:
            await sim.stop()
        await server.close()


async def signed_in(browser: Any, central: Central, name: str = "aigul", path: str = "/?lang=en",
                    javascript: bool = True) -> Page:
    context = await browser.new_context(java_script_enabled=javascript, viewport={"width": 1280, "height": 600})
    page: Page = await context.new_page()
    await page.goto(central.base + path)
    assert "/login" in page.url  # nothing is shown before signing in
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button")
    await page.wait_for_url(central.base + path)
    return page


async def cell_class(page: Page, key: str) -> str:
    return str(await page.get_attribute(f'a[href="/rooms/{key}"]', "class"))


async def test_fleet_page_shows_colours_and_counts_and_goes_offline_live(
        district: tuple[Central, list[SimClassroom]], browser: Any) -> None:
    central, sims = district
    page = await signed_in(browser, central)
    await page.wait_for_selector("body[data-live='1']")
    assert [await cell_class(page, f"{s.site}/{s.room}") for s in sims[:5]] == ["online"] * 5
    assert await page.locator('a[href="/rooms/school-3/room-2"]').count() == 0  # never connected: not in the fleet
    assert await page.text_content("#n-online") == "5" and await page.text_content("#n-classrooms") == "5"
    # The colour a person sees, not only the class name.
    colour = await page.eval_on_selector('a[href="/rooms/school-1/room-1"]',
                                         "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(46, 157, 70)"

    await sims[2].kill()
    await page.wait_for_function(f"{CELL.format('school-2/room-1')}.className === 'offline'",
                                 timeout=8000)
    assert await page.text_content("#n-online") == "4"
    title = str(await page.get_attribute('a[href="/rooms/school-2/room-1"]', "title"))
    assert title.startswith("room-1 · offline, ")
    await sims[0].raise_alert("scope-1", "no_frames")
    await page.wait_for_selector("#feed li", timeout=8000)
    assert "school-1/room-1" in str(await page.text_content("#feed li"))
    await wait_for(lambda: _alerts_shown(page), 5, "the open alert count")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "central-fleet-offline.png"), full_page=True)

    # A reload shows the same thing; the state filter works without JavaScript.
    await page.reload()
    assert await cell_class(page, "school-2/room-1") == "offline"
    quiet = await signed_in(browser, central, javascript=False)
    await quiet.select_option("select[name=state]", "offline")
    await quiet.click("form[method=get] button")
    assert await quiet.locator(".c a").count() == 1
    await quiet.fill("input[name=q]", "school-1")
    await quiet.select_option("select[name=state]", "")
    await quiet.click("form[method=get] button")
    assert await quiet.locator(".c a").count() == 2
    await sims[2].restart()
    await page.wait_for_function(f"{CELL.format('school-2/room-1')}.className === 'online'",
                                 timeout=8000)


async def _alerts_shown(page: Page) -> bool:
    return await page.text_content("#n-alerts") != "0"


async def labels(page: Page) -> list[tuple[str, str]]:
    return list(await page.eval_on_selector_all(
        "[data-t]", "els => els.map(e => [e.dataset.t, e.textContent.trim()])"))


async def loose_text(page: Page) -> list[str]:
    """Text a person reads that is neither a catalog label nor data (names, numbers)."""
    script = """() => { const out = [];
      const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      while (walk.nextNode()) { const n = walk.currentNode, p = n.parentElement;
        if (p.closest('script,style,svg,#live,#feed,[data-t],[data-v],[data-d]')) continue;
        const s = n.textContent.trim(); if (s) out.push(s); }
      return out; }"""
    return list(await page.evaluate(script))


async def assert_translated(page: Page, lang: str) -> None:
    found = await labels(page)
    assert len(found) > 5, page.url
    for key, shown in found:
        assert shown == i18n.CATALOG[lang][key], (page.url, key, shown)
    loose = [s for s in await loose_text(page) if not re.fullmatch(r"[\d\s:/·,.%-]*", s)]
    assert not loose, (page.url, loose)
    words = i18n.CATALOG[lang]
    unit = "|".join(re.escape(words[u]) for u in ("d", "h", "min", "s"))
    spoken = re.escape(words["ago"]).replace(re.escape("{duration}"), rf"\d+ ({unit})( \d+ ({unit}))?")
    for shown in await page.eval_on_selector_all("[data-d]", "els => els.map(e => e.textContent)"):
        assert re.fullmatch(spoken, shown), (page.url, shown)
    feed = await page.eval_on_selector_all("#feed li", "els => els.map(e => e.textContent)")
    assert all(f.startswith(i18n.CATALOG[lang]["new_alert"] + ": ") for f in feed), feed
    states = {i18n.CATALOG[lang][s] for s in ("online", "offline", "stale", "unknown")}
    assert set(await page.eval_on_selector_all("svg title", "els => els.map(e => e.textContent)")) <= states


async def test_language_switch_leaves_no_untranslated_label(
        district: tuple[Central, list[SimClassroom]], browser: Any) -> None:
    central, sims = district
    await sims[0].kill()
    await central.wait_presence(sims[0].site, sims[0].room, "offline")
    page = await signed_in(browser, central)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for lang in ("ru", "kk", "en"):
        await page.click(f"nav a[lang={lang}]")
        assert await page.get_attribute("html", "lang") == lang
        await assert_translated(page, lang)
        titles = await page.eval_on_selector_all(".c a", "els => els.map(e => e.title)")
        words = {i18n.CATALOG[lang][s] for s in ("online", "offline", "stale", "unknown")}
        assert all(any(w in t for w in words) for t in titles), titles
        assert await page.text_content("#live") in (i18n.CATALOG[lang]["live"], "")
        await page.screenshot(path=str(SHOTS / f"central-fleet-{lang}.png"))
    for path in ("/alerts", "/inventory", "/rooms/school-1/room-1"):
        for lang in ("ru", "kk", "en"):
            await page.goto(f"{central.base}{path}?lang={lang}")
            await assert_translated(page, lang)
    # Remembered: a page opened without ?lang= keeps the last choice (English here).
    await page.goto(f"{central.base}/")
    assert await page.get_attribute("html", "lang") == "en"
    await page.click("nav a[lang=kk]")
    await page.goto(f"{central.base}/")
    assert await page.get_attribute("html", "lang") == "kk"


async def test_sign_in_guards_and_a_compressed_fleet_page(district: tuple[Central, list[SimClassroom]]) -> None:
    central, sims = district
    await sims[0].raise_alert("scope-1", "no_frames")
    alert = (await wait_for(lambda: central.alerts("no_frames", active=True), 5, "the alert"))[0]
    async with aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(central.base + "/", allow_redirects=False) as response:
            assert response.status == 302  # signed out
        async with http.post(central.base + "/login", data={"name": "aigul", "password": "wrong-one"}) as response:
            assert response.status == 401
        async with http.post(central.base + "/login?next=//evil.example/", allow_redirects=False,
                             data={"name": "erlan", "password": PASSWORD}) as response:
            assert response.status == 302 and response.headers["Location"] == "/"  # no open redirect
        # An engineer's cookie, but a form from another site: refused.
        async with http.post(f"{central.base}/alerts/{alert['id']}/ack", data={"note": "x"},
                             headers={"Origin": "http://evil.example"}) as response:
            assert response.status == 403
        assert (await central.alerts("no_frames", active=True))[0]["ack"] is None
        async with http.get(central.base + "/", headers={"Accept-Encoding": "gzip"}) as response:
            assert response.headers.get("Content-Encoding") == "gzip"
            assert len(await response.read()) < 5000


async def test_an_engineer_acknowledges_in_the_page_and_a_viewer_cannot(
        district: tuple[Central, list[SimClassroom]], browser: Any) -> None:
    central, sims = district
    await sims[1].raise_alert("scope-1", "no_frames")
    alert = (await wait_for(lambda: central.alerts("no_frames", active=True), 5, "the alert"))[0]

    viewer = await signed_in(browser, central, "aigul", "/alerts?lang=ru")
    row = viewer.locator(f"#alert-{alert['id']}")
    assert await row.count() == 1 and await row.locator("button").count() == 0
    # Even a hand-made form post is refused for a viewer.
    status = await viewer.evaluate(f"""async () => (await fetch('/alerts/{alert["id"]}/ack',
        {{method: 'POST', body: new URLSearchParams({{note: 'x'}})}})).status""")
    assert status == 403
    assert (await central.alerts("no_frames", active=True))[0]["ack"] is None

    engineer = await signed_in(browser, central, "erlan", "/alerts?lang=kk")
    form = engineer.locator(f"#alert-{alert['id']} form")
    await form.locator("input[name=note]").fill("микроскоп ауыстырылды")
    await form.locator("button").click()
    await engineer.wait_for_selector(f"#alert-{alert['id']} [data-t=acked]")
    acked = (await central.alerts("no_frames", active=True))[0]["ack"]
    assert acked["by"] == "erlan" and acked["note"] == "микроскоп ауыстырылды"
    await engineer.screenshot(path=str(SHOTS / "central-alerts-kk.png"), full_page=True)

    await engineer.goto(central.base + "/inventory?lang=en")
    assert await engineer.locator("tr").count() == 1 + 5 * 3
    assert "SN-school-1-room-1-panel-front" in str(await engineer.text_content("table"))


async def test_room_page_draws_availability_from_intervals(
        district: tuple[Central, list[SimClassroom]], browser: Any) -> None:
    central, sims = district
    await sims[0].set_availability("scope-1", "offline")
    await wait_for(lambda: _device_state(central, "scope-1", "offline"), 5, "the microscope offline")
    page = await signed_in(browser, central, path="/?lang=en")
    await page.click('a[href="/rooms/school-1/room-1"]')
    await page.wait_for_url(central.base + "/rooms/school-1/room-1")
    assert await page.locator("table").first.locator("tr").count() >= 1
    rows = page.locator("tr", has_text="scope-1")
    assert await rows.locator("[data-t=offline]").count() == 1
    # The classroom has been online since central saw it: 100 % of the known time.
    assert "100.0 %" in str(await page.text_content("h2 + p"))
    fills = await page.eval_on_selector_all("svg rect[fill='#d62f2f']", "els => els.length")
    assert fills >= 1  # the microscope's offline interval
    await page.screenshot(path=str(SHOTS / "central-room-en.png"), full_page=True)


async def _device_state(central: Central, device: str, state: str) -> bool:
    room = await central.classroom("school-1", "room-1")
    return bool(room and any(d["id"] == device and d["availability"] == state for d in room["devices"]))
