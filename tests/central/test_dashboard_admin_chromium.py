"""Districts, the school page and the admin pages in a real headless Chromium (SQLite, a real
Mosquitto, simulated classrooms)."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from playwright.async_api import Page

from classroomd.central import accounts, i18n, schools
from classroomd.central.db import open_database
from classroomd.central.schools import School
from classroomd.central.simulate import DEVICES, SimClassroom
from tests.central.harness import Central, wait_for
from tests.central.test_dashboard_chromium import CHROMIUM, PASSWORD, SHOTS, assert_translated, signed_in
from tests.support.mosquitto import Mosquitto

pytestmark = [pytest.mark.chromium,
              pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium")]
REGISTRY = [School("school-1", "Арал ауданы", "№1 мектеп-гимназия"),
            School("school-2", "Сырдария ауданы", "№2 жалпы орта мектеп")]
#: school-3 is not in the registry; its first room has no microscope
NO_SCOPE = tuple(d for d in DEVICES if d[1] != "microscope")


@pytest.fixture
async def district(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[Central, list[SimClassroom]]]:
    db = f"sqlite:///{tmp_path / 'central.sqlite3'}"
    server = Central(mosquitto.url, db, tmp_path / "central-state",
                     overrides={"provision_dir": str(tmp_path / "mosquitto"),
                                "provision_broker": "mqtts://broker.district.example:8883"})
    await server.start()
    engine = await open_database(db)
    try:
        await accounts.ensure_tables(engine)
        await schools.ensure_tables(engine)
        for name, role in (("aigul", "viewer"), ("erlan", "engineer"), ("dana", "admin")):
            await accounts.set_account(engine, name, role, PASSWORD)
        await schools.save(engine, REGISTRY)
    finally:
        await engine.dispose()
    sims = [SimClassroom(mosquitto.url, f"school-{i // 2 + 1}", f"room-{i % 2 + 1}",
                         devices=NO_SCOPE if i == 4 else DEVICES) for i in range(6)]
    try:
        for sim in sims[:5]:
            await sim.start(health_loop=False)
        for sim in sims[:5]:
            await server.wait_presence(sim.site, sim.room, "online")
        yield server, sims
    finally:
        for sim in sims[:5]:
            await sim.stop()
        await server.close()


async def cells(page: Page) -> list[str]:
    return list(await page.eval_on_selector_all(".c a", "els => els.map(e => e.getAttribute('href'))"))


async def login_status(central: Central, name: str, password: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            central.base + "/login", data={"name": name, "password": password}, allow_redirects=False) as response:
        return response.status


async def show(page: Page, **choices: str) -> None:
    for name, value in choices.items():
        if name == "q":
            await page.fill("input[name=q]", value)
        else:
            await page.select_option(f"select[name={name}]", value)
    await page.click("form[method=get] button")


async def test_fleet_grouped_by_district_and_filtered_without_javascript(
        district: tuple[Central, list[SimClassroom]], browser: Any) -> None:
    central, sims = district
    await sims[3].kill()  # school-2/room-2
    await central.wait_presence("school-2", "room-2", "offline")
    page = await signed_in(browser, central, javascript=False)
    assert await page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)") == [
        "Арал ауданы 2/2", "Сырдария ауданы 1/2", f"{i18n.CATALOG['en']['unassigned']} 1/1"]
    assert await page.eval_on_selector_all(".r > a", "els => els.map(e => e.textContent)") == [
        "№1 мектеп-гимназия", "№2 жалпы орта мектеп", "school-3"]

    await show(page, district="Сырдария ауданы")
    assert await cells(page) == ["/rooms/school-2/room-1", "/rooms/school-2/room-2"]
    # Once a district is chosen, its schools are offered.
    await show(page, site="school-2", state="offline")
    assert await cells(page) == ["/rooms/school-2/room-2"]
    await show(page, district="", site="", state="", kind="microscope")
    assert "/rooms/school-3/room-1" not in await cells(page) and len(await cells(page)) == 4
    await show(page, kind="", district="-")
    assert await cells(page) == ["/rooms/school-3/room-1"]
    await show(page, district="", q="ГИМНАЗИЯ")  # the registry's name, any case
    assert await cells(page) == ["/rooms/school-1/room-1", "/rooms/school-1/room-2"]
    await show(page, q="", sort="state")
    order = await page.eval_on_selector_all(".r > a", "els => els.map(e => e.textContent)")
    assert order[:2] == ["№1 мектеп-гимназия", "№2 жалпы орта мектеп"]  # districts first; within each, worst
    assert await cells(page) == ["/rooms/school-1/room-1", "/rooms/school-1/room-2", "/rooms/school-2/room-2",
                                 "/rooms/school-2/room-1", "/rooms/school-3/room-1"]
    await page.screenshot(path=str(SHOTS / "central-fleet-districts.png"), full_page=True)
    for lang in ("ru", "kk", "en"):
        await page.click(f"nav a[lang={lang}]")
        await assert_translated(page, lang)
    assert "sort=state" in page.url  # the language links keep the filters


async def test_school_page_rooms_devices_uptime_lessons_and_alerts(
        district: tuple[Central, list[SimClassroom]], browser: Any) -> None:
    central, sims = district
    await sims[0].start_lesson("lesson-1", "Биология")
    await sims[0].end_lesson()
    await sims[0].start_lesson("lesson-2", "Химия")
    await sims[1].raise_alert("scope-1", "no_frames")
    await wait_for(lambda: central.alerts("no_frames", active=True), 5, "the alert")
    page = await signed_in(browser, central, path="/?lang=en")
    await page.click("text=№1 мектеп-гимназия")
    await page.wait_for_url(central.base + "/schools/school-1")
    rooms = page.locator("table").first
    first = rooms.locator("tr", has_text="room-1")
    assert await first.locator("[data-t=online]").count() == 1
    values = await first.locator("td").all_text_contents()
    assert values[3:5] == ["100.0 %", "100.0 %"]  # online all the time central has known it
    assert values[-1] == "2"  # two lessons this week
    assert (await rooms.locator("tr", has_text="room-2").locator("td").all_text_contents())[-1] == "0"
    devices = page.locator("table").nth(1)
    assert await devices.locator("tr").count() == 1 + 2 * 3
    assert "DTX 90" in str(await devices.text_content())
    assert await page.locator("ul li", has_text="no_frames").count() == 1
    await page.screenshot(path=str(SHOTS / "central-school-en.png"), full_page=True)
    for lang in ("ru", "kk", "en"):
        await page.goto(f"{central.base}/schools/school-1?lang={lang}")
        await assert_translated(page, lang)
    # The room page has lessons per week too, and a way back to its school.
    await page.goto(f"{central.base}/rooms/school-1/room-1?lang=en")
    assert await page.locator("h2 [data-t=lessons_week]").count() == 1
    await page.click("a[href='/schools/school-1']")
    await page.wait_for_url(central.base + "/schools/school-1")


async def test_admin_creates_an_account_that_signs_in_and_edits_the_registry(
        district: tuple[Central, list[SimClassroom]], browser: Any, tmp_path: Path) -> None:
    central, _ = district
    admin = await signed_in(browser, central, "dana", "/admin/accounts?lang=kk")
    await assert_translated(admin, "kk")
    form = admin.locator("form", has=admin.locator("input[name=password]"))
    await form.locator("input[name=name]").fill("bolat")
    await form.locator("select[name=role]").select_option("engineer")
    await form.locator("button").click()
    await admin.wait_for_selector("#once")
    password = str(await admin.text_content("#once"))
    assert len(password) >= 12
    assert await admin.locator('[id="account-bolat"] td > span[data-t=engineer]').count() == 1
    await admin.screenshot(path=str(SHOTS / "central-admin-accounts-kk.png"), full_page=True)
    assert await login_status(central, "bolat", password) == 302
    # Disabled: the password no longer opens anything.
    await admin.locator('[id="account-bolat"] form', has=admin.locator("input[value=disable]")).locator(
        "button").click()
    await admin.wait_for_selector('[id="account-bolat"] [data-t=disabled]')
    assert await login_status(central, "bolat", password) == 401
    # An admin's own row offers no disable or role change.
    assert await admin.locator('[id="account-dana"] input[value=disable]').count() == 0

    await admin.goto(central.base + "/admin/schools?lang=ru")
    await assert_translated(admin, "ru")
    # school-3 is offered as a site not yet in the registry.
    row = admin.locator("li", has=admin.locator("input[name=site][value='school-3']"))
    await row.locator("input[name=district]").fill("Арал ауданы")
    await row.locator("input[name=name]").fill("Арал №3")
    await row.locator("button").click()
    await admin.wait_for_selector('[id="school-school-3"]')
    bad = tmp_path / "schools.csv"
    bad.write_text("site,district,name\nschool-4,Арал ауданы,№4\nschool-5;Арал ауданы;№5\n", encoding="utf-8")
    await admin.set_input_files("input[type=file]", str(bad))
    await admin.locator("form[enctype] button").click()
    await admin.wait_for_selector("#problems li")
    assert await admin.text_content("#problems li") == i18n.CATALOG["ru"]["csv_fields"].format(line=3, got=1)
    await assert_translated(admin, "ru")
    page = await signed_in(browser, central, "erlan")
    await page.goto(central.base + "/?" + urlencode({"lang": "en", "district": "Арал ауданы"}))
    # By name: "Арал №3" before "№1 …"
    assert await cells(page) == ["/rooms/school-3/room-1", "/rooms/school-1/room-1", "/rooms/school-1/room-2"]


async def test_admin_provisions_a_classroom_from_the_page(
        district: tuple[Central, list[SimClassroom]], browser: Any, tmp_path: Path) -> None:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("needs mosquitto_passwd")
    central, _ = district
    admin = await signed_in(browser, central, "dana", "/admin/provision?lang=en")
    await assert_translated(admin, "en")
    await admin.fill("input[name=site]", "kz-aral-007")
    await admin.fill("input[name=room]", "biology")
    await admin.locator("form:has(input[name=site]) button").click()
    await admin.wait_for_selector("#stanza")
    stanza = tomllib.loads(str(await admin.text_content("#stanza")))
    assert stanza["site"] == "kz-aral-007" and stanza["mqtt"]["url"] == "mqtts://broker.district.example:8883"
    assert stanza["mqtt"]["username"] == "kz-aral-007/biology" and len(stanza["mqtt"]["password"]) > 16
    acl = (tmp_path / "mosquitto" / "acl").read_text()
    assert "topic write classroom/kz-aral-007/biology/#" in acl
    assert "kz-aral-007/biology:" in (tmp_path / "mosquitto" / "passwords").read_text()
    await assert_translated(admin, "en")
    await admin.fill("input[name=site]", "bad site")
    await admin.fill("input[name=room]", "biology")
    await admin.locator("form:has(input[name=site]) button").click()
    await admin.wait_for_selector("[data-t=err_segment]")


@pytest.mark.parametrize("path", ["/admin/accounts", "/admin/schools", "/admin/provision"])
async def test_viewers_and_engineers_get_403_and_no_admin_links(
        district: tuple[Central, list[SimClassroom]], browser: Any, path: str) -> None:
    central, _ = district
    for name in ("aigul", "erlan"):
        page = await signed_in(browser, central, name, "/?lang=en")
        assert await page.locator("a[href^='/admin/']").count() == 0
        response = await page.goto(central.base + path)
        assert response is not None and response.status == 403
        status = await page.evaluate(f"""async () => (await fetch('{path}',
            {{method: 'POST', body: new URLSearchParams({{do: 'create', name: 'mallory', role: 'admin',
              site: 'x', room: 'y'}})}})).status""")
        assert status == 403
    engine = await open_database(central.db)
    try:
        assert "mallory" not in {a.name for a in await accounts.listing(engine)}
    finally:
        await engine.dispose()
    admin = await signed_in(browser, central, "dana", "/?lang=en")
    assert await admin.locator("a[href^='/admin/']").count() == 3
