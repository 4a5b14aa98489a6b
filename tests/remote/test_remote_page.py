"""The teacher's remote in a real headless Chromium (phone-sized) against a real agent and the demo devices."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from aiohttp import ClientSession, CookieJar
from playwright.async_api import Page

from tests.remote.conftest import PHONE, Classroom, enter_pin, needs_chromium, open_remote, screenshot_dir

pytestmark = needs_chromium


async def pixel_at(page: Page, selector: str) -> tuple[int, int, int]:
    box = await page.locator(selector).bounding_box()
    assert box is not None
    shot = cv2.imdecode(np.frombuffer(await page.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    b, g, r = shot[int(box["y"] + box["height"] / 2), int(box["x"] + box["width"] / 2)]
    return int(r), int(g), int(b)


async def image_centre(url: str) -> tuple[int, int, int]:
    async with ClientSession() as http, http.get(url) as response:
        image = cv2.imdecode(np.frombuffer(await response.read(), np.uint8), cv2.IMREAD_COLOR)
    b, g, r = image[image.shape[0] // 2, image.shape[1] // 2]
    return int(r), int(g), int(b)


async def test_capture_and_show_puts_the_capture_on_the_open_board(classroom: Classroom, browser: Any) -> None:
    board = await browser.new_page(viewport={"width": 1280, "height": 720})
    await board.goto(f"{classroom.url}/board?panel=panel-1&lang=kk")
    await board.wait_for_selector("body[data-connected='1']")
    remote = await open_remote(browser, classroom)

    await remote.click("#capture-show")
    await enter_pin(remote)  # the tap asked for the PIN, then went on by itself
    await remote.wait_for_selector("#steps li.done[data-step='step_shown']", timeout=40000)
    steps = await remote.locator("#steps li").evaluate_all("els => els.map(e => [e.dataset.step, e.className])")
    assert steps == [["step_capture", "done"], ["step_wake", "done"], ["step_input", "done"], ["step_shown", "done"]]
    assert await remote.locator("#show-error").is_hidden()

    await board.wait_for_selector("#stage img.still")
    src = await board.get_attribute("#stage img.still", "src")
    assert src is not None and src.startswith("/media/")
    await board.wait_for_function("() => document.querySelector('#stage img.still').complete")
    # The board shows the very picture the microscope took: its colour, read off the screen.
    shown = await pixel_at(board, "#stage img.still")
    taken = await image_centre(f"{classroom.url}{src}")
    assert all(abs(a - b) < 40 for a, b in zip(shown, taken, strict=True)), (shown, taken)


async def test_a_failing_step_is_named(classroom: Classroom, browser: Any) -> None:
    remote = await open_remote(browser, classroom)
    await remote.click("#unlock")
    await enter_pin(remote)
    await remote.wait_for_selector("#unlock", state="hidden")
    # The panel's control line goes silent: waking it is the step that fails, and the page says so.
    panel = classroom.agent.device("panel-1")
    assert panel is not None
    await next(s for s in classroom.sims if s.config.id == "panel-1").close()
    await remote.click("#capture-show")
    await remote.wait_for_selector("#show-error:not([hidden])", timeout=30000)
    failed = await remote.locator("#steps li.failed").get_attribute("data-step")
    message = await remote.locator("#show-error").text_content() or ""
    assert failed in ("step_wake", "step_input", "step_shown")
    assert message.startswith("Қате қадам: ")
    assert "Сурет сақталды" in message  # the capture itself was kept, and the teacher is told


async def test_gallery_needs_no_pin_and_a_tap_shows_again(classroom: Classroom, browser: Any) -> None:
    agent = classroom.agent
    await agent.actions.request("lesson_start", {"subject": "Биология", "teacher": "Айгүл"})
    scope = agent.device("scope-1")
    assert scope is not None
    media_id = (await scope.request("capture", {}))["media_id"]
    agent.media.add_annotations(media_id, [{"points": [[0.1, 0.1, 1.0], [0.5, 0.5, 1.0]], "color": "#ff0000"}])
    board = await browser.new_page()
    await board.goto(f"{classroom.url}/board?panel=panel-1")
    await board.wait_for_selector("body[data-connected='1']")
    remote = await open_remote(browser, classroom)
    await remote.wait_for_selector(f"#gallery button[data-media='{media_id}'] img")
    assert "Биология" in (await remote.locator("#lesson-now").text_content() or "")
    assert await remote.locator(f"#gallery button[data-media='{media_id}'] .notes").text_content() == "✎ 1"
    await remote.click(f"#gallery button[data-media='{media_id}']")
    await enter_pin(remote)
    await board.wait_for_selector(f"#stage img.still[src='/media/{media_id}']", timeout=20000)


async def test_lesson_start_and_end_remember_the_teacher(classroom: Classroom, browser: Any) -> None:
    remote = await open_remote(browser, classroom, lang="ru")
    await remote.click("#unlock")
    await enter_pin(remote)
    await remote.fill("#subject", "Физика")
    await remote.fill("#teacher", "Ерлан Асқарұлы")
    await remote.click("#lesson-start")
    await remote.wait_for_function("() => document.querySelector('#lesson-now').textContent.includes('Физика')")
    lesson = classroom.agent.lesson
    assert lesson is not None and lesson.teacher == "Ерлан Асқарұлы"
    await remote.reload()
    assert await remote.input_value("#teacher") == "Ерлан Асқарұлы"
    await remote.click("#lesson-end")
    await remote.wait_for_function("() => document.querySelector('#lesson-now').textContent === 'Урок не начат'")
    assert classroom.agent.lesson is None


GCODE = "G28\nG1 X10 Y10 F3000\nG1 X20 Y20\nG1 X30 Y10\nM400\n"


async def test_a_print_asks_for_the_bed_and_finishes_on_the_simulator(
        classroom: Classroom, browser: Any, tmp_path: Path) -> None:
    remote = await open_remote(browser, classroom)
    await remote.click("#unlock")
    await enter_pin(remote)
    await remote.wait_for_selector("#unlock", state="hidden")
    gcode = tmp_path / "kub.gcode"
    gcode.write_text(GCODE)
    await remote.set_input_files("#gcode", str(gcode))
    await remote.click("#print")
    dialog = remote.locator("#bed-dialog")
    await dialog.wait_for(state="visible")
    # The dialog will not start anything until the box is ticked.
    await remote.click("#bed-start")
    assert await dialog.is_visible()
    printer = classroom.agent.device("printer-1")
    assert printer is not None and printer.snapshot()["job"] is None
    await remote.check("#bed-checked")
    await remote.click("#bed-start")
    await dialog.wait_for(state="hidden")
    history: list[dict[str, Any]] = []
    for _ in range(300):
        history = list((await printer.request("history", {}))["jobs"])
        if history and history[0].get("file_name") == "kub.gcode":
            break
        await asyncio.sleep(0.1)
    assert history and history[0]["file_name"] == "kub.gcode", history
    assert history[0].get("outcome", history[0].get("state")) == "finished", history[0]


async def test_every_label_is_translated_after_each_switch(classroom: Classroom, browser: Any) -> None:
    remote = await open_remote(browser, classroom)
    for lang, button in (("ru", "РУС"), ("en", "ENG"), ("kk", "ҚАЗ")):
        await remote.click(f"[data-lang-set={lang}]")
        untranslated = await remote.evaluate("""(lang) => {
            const keys = (l) => Object.keys(TEXT[l]).sort().join(',');
            if (keys(lang) !== keys('en')) return ['key sets differ'];
            const bad = [];
            for (const el of document.querySelectorAll('[data-i18n]')) {
                const want = TEXT[lang][el.dataset.i18n];
                if (!want || el.textContent !== want) bad.push(el.dataset.i18n);
                const english = want === TEXT.en[el.dataset.i18n] && /[a-z]{3}/.test(want);
                if (lang !== 'en' && english) bad.push(el.dataset.i18n);
            }
            return bad;
        }""", lang)
        assert untranslated == [], (lang, untranslated)
        assert await remote.get_attribute("html", "lang") == lang
        assert await remote.get_attribute(f"[data-lang-set={lang}]", "aria-pressed") == "true", button
    await remote.reload()  # remembered on this device
    await remote.wait_for_selector("#scope-card:not([hidden])")
    assert await remote.get_attribute("html", "lang") == "kk"


async def test_targets_are_big_enough_for_a_finger(classroom: Classroom, browser: Any) -> None:
    remote = await open_remote(browser, classroom)
    small = await remote.evaluate("""() => [...document.querySelectorAll('button, select, input:not([type=file])')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e.id || e.textContent, e.getBoundingClientRect()])
        .filter(([, r]) => r.height < 48 || r.width < 32)
        .map(([n]) => n)""")
    assert small == []
    width = await remote.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing sticks out sideways in portrait
    shots = screenshot_dir()
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        await remote.screenshot(path=str(shots / "remote-kk.png"), full_page=True)


async def test_a_wrong_pin_is_refused_and_rate_limited(classroom: Classroom, browser: Any) -> None:
    async with ClientSession() as http:
        async with http.post(f"{classroom.url}/api/v1/remote/request/panel-1/power", json={"state": "on"}) as r:
            assert r.status == 401
        for _ in range(4):
            async with http.post(f"{classroom.url}/api/v1/remote/pin", json={"pin": "0000"}) as r:
                assert r.status == 401
        async with http.post(f"{classroom.url}/api/v1/remote/pin", json={"pin": "1111"}) as r:
            assert r.status == 429
            assert int(r.headers["Retry-After"]) > 0
        # Locked out: even the right PIN waits, so guessing 10,000 PINs takes weeks.
        async with http.post(f"{classroom.url}/api/v1/remote/pin", json={"pin": "2468"}) as r:
            assert r.status == 429
    remote = await open_remote(browser, classroom)
    await remote.click("#unlock")
    await enter_pin(remote, "2468")  # the browser is on the same address, so it is locked out too
    await remote.wait_for_selector("#pin-error:not([hidden])")
    assert await remote.get_attribute("#pin-error", "data-code") == "locked"
    assert (await remote.locator("#pin-error").text_content() or "").startswith("Тым көп қате әрекет")


async def test_engineer_only_actions_are_refused_with_the_pin(classroom: Classroom) -> None:
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as http:  # unsafe: a cookie from an IP address
        async with http.post(f"{classroom.url}/api/v1/remote/pin", json={"pin": "2468"}) as r:
            assert r.status == 200
        async with http.post(f"{classroom.url}/api/v1/remote/request/printer-1/reconnect", json={}) as r:
            assert r.status == 403
        async with http.post(f"{classroom.url}/api/v1/remote/request/printer-1/queue", json={}) as r:
            body = await r.json()
            assert r.status == 200 and body["status"] == "ok", body
        async with http.post(f"{classroom.url}/api/v1/remote/request/panel-1/volume", json={"level": 300}) as r:
            body = await r.json()
            assert r.status == 409 and body["error"]["code"] == "invalid_arguments"


async def test_pages_are_small_and_need_nothing_from_outside(classroom: Classroom) -> None:
    async with ClientSession() as http:
        for path in ("/", "/ui/remote.js", "/ui/remote.css", "/engineer", "/ui/engineer.js"):
            async with http.get(f"{classroom.url}{path}") as r:
                assert r.status == 200
                text = await r.text()
            assert len(text.encode()) < 40_000, path  # a weak link loads the remote in seconds
            assert "http://" not in text and "https://" not in text, path
