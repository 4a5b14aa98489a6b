"""The engineer's console in headless Chromium against a real agent with the demo devices."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import ClientSession, CookieJar
from playwright.async_api import Page

from tests.remote.conftest import ENGINEER_PASSWORD, Classroom, needs_chromium, screenshot_dir, watch_errors

pytestmark = needs_chromium


async def open_console(browser: Any, classroom: Classroom, secret: str = ENGINEER_PASSWORD) -> Page:
    page: Page = await browser.new_page(viewport={"width": 1024, "height": 1400})
    watch_errors(page)
    await page.goto(f"{classroom.url}/engineer")
    await page.wait_for_selector("#login-dialog[open]")
    await page.fill("#secret", secret)
    await page.click("#login-ok")
    await page.wait_for_selector("body[data-ready='1']")
    return page


async def test_the_console_explains_why_each_device_is_its_kind(classroom: Classroom, browser: Any) -> None:
    page = await open_console(browser, classroom)
    for device in classroom.agent.all_devices():
        why = device.describe()["matched_by"]
        assert why
        row = page.locator(f"tr[data-device='{device.id}']")
        assert why in (await row.locator("td.why").text_content() or "")
    assert await page.locator("#pin-value").text_content() == "2468"  # shown to the engineer, not on the board
    # The doctor ran for the page too: the test config has a panel and HTTP on 127.0.0.1 only.
    await page.wait_for_selector("#findings li[data-check='http_local'] code")
    shots = screenshot_dir()
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shots / "engineer-kk.png"), full_page=False)
    for lang in ("ru", "en", "kk"):
        await page.click(f"[data-lang-set={lang}]")
        untranslated = await page.evaluate("""(lang) => {
            const keys = (l) => Object.keys(TEXT[l]).sort().join(',');
            if (keys(lang) !== keys('en')) return ['key sets differ'];
            return [...document.querySelectorAll('[data-i18n]')]
                .filter(el => el.textContent !== TEXT[lang][el.dataset.i18n]).map(el => el.dataset.i18n);
        }""", lang)
        assert untranslated == [], (lang, untranslated)
        finding = page.locator("#findings li[data-check='http_local'] b")
        assert await finding.text_content() == (await classroom_finding(classroom, lang))


async def classroom_finding(classroom: Classroom, lang: str) -> str:
    async with ClientSession() as http, http.get(f"{classroom.url}/api/v1/engineer/doctor",
                                                 headers={"Authorization": f"Bearer {classroom.agent.token}"}) as r:
        findings = (await r.json())["findings"]
    return str(next(f for f in findings if f["check"] == "http_local")["message"][lang])


async def test_device_tests_show_a_card_a_snapshot_and_live_touches(classroom: Classroom, browser: Any) -> None:
    board = await browser.new_page()
    await board.goto(f"{classroom.url}/board?panel=panel-1")
    await board.wait_for_selector("body[data-connected='1']")
    page = await open_console(browser, classroom)
    await page.click("button[data-test='panel-1']")
    await board.wait_for_selector(".card h1", timeout=20000)
    assert "classroomd" in (await board.locator(".card h1").text_content() or "")
    await page.click("button[data-test='scope-1']")
    await page.wait_for_function("() => document.querySelector('#test-result img')?.naturalWidth > 0")
    # The touch table's test follows its state live (the demo table replays touches).
    await page.click("button[data-test='table-1']")
    await page.wait_for_selector("#test-live[data-updated]")
    assert '"contacts"' in (await page.locator("#test-live").text_content() or "")


async def test_the_log_is_filtered_by_device(classroom: Classroom, browser: Any) -> None:
    logging.getLogger("classroomd.devices").info("hello from the globe", extra={"device": "globe-1"})
    page = await open_console(browser, classroom)
    await page.select_option("#log-device", "globe-1")
    await page.wait_for_function(
        "() => document.querySelector('#log-lines').textContent.includes('hello from the globe')")
    lines = (await page.locator("#log-lines").text_content() or "").splitlines()
    assert lines and all(" globe-1 " in line for line in lines)


async def test_an_invalid_config_is_refused_with_line_and_key(classroom: Classroom, browser: Any) -> None:
    before = classroom.config_file.read_text()
    running = classroom.agent.config.model_dump()
    page = await open_console(browser, classroom)
    assert await page.input_value("#config-text") == before
    await page.fill("#config-text", 'site = "kz-test-01"\nroom = "biology"\n\n[agent]\nhealth_interval_s = "often"\n')
    await page.click("#config-save")
    issue = page.locator("#config-issues li").first
    await issue.wait_for()
    assert await issue.get_attribute("data-line") == "5"
    assert await issue.get_attribute("data-key") == "agent.health_interval_s"
    assert classroom.config_file.read_text() == before
    assert classroom.agent.config.model_dump() == running
    assert not list(classroom.config_file.parent.glob("*.bak"))

    # A kind's own keys are checked too (the daemon's check, not only the shared shape).
    printer = '\n[[devices]]\nid = "printer-2"\nkind = "printer"\nport = "/dev/ttyUSB0"\nbaud = -5\n'
    await page.fill("#config-text", before + printer)
    await page.click("#config-save")
    await page.wait_for_selector("#config-issues li[data-key='devices[0].baud']")

    good = before + "\n# saved from the console\n"
    await page.fill("#config-text", good)
    await page.click("#config-save")
    await page.wait_for_selector("#config-saved:not([hidden])")
    assert classroom.config_file.read_text() == good
    backups = list(classroom.config_file.parent.glob("classroomd.toml.*.bak"))
    assert len(backups) == 1 and backups[0].read_text() == before


async def test_the_console_needs_the_token_or_the_password(classroom: Classroom) -> None:
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:
        async with http.get(f"{classroom.url}/api/v1/engineer/overview") as r:
            assert r.status == 401
        async with http.post(f"{classroom.url}/api/v1/engineer/login", json={"secret": "2468"}) as r:
            assert r.status == 401  # the classroom PIN is not the engineer's
        async with http.get(f"{classroom.url}/api/v1/engineer/config",
                            headers={"Authorization": f"Bearer {classroom.agent.token}"}) as r:
            assert r.status == 200
            body = await r.json()
            assert body["running"]["http"]["pin"] == "***"
        async with http.post(f"{classroom.url}/api/v1/engineer/login", json={"secret": ENGINEER_PASSWORD}) as r:
            assert r.status == 200
        async with http.get(f"{classroom.url}/api/v1/engineer/logs") as r:
            assert r.status == 200
            assert any("signed in" in line["msg"] for line in (await r.json())["lines"])
