"""A real agent with every demo simulator on a real Mosquitto, and Debian's Chromium to drive its pages."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from classroomd.daemon.agent import Agent
from classroomd.daemon.demo import start_simulators, stop_simulators
from classroomd.daemon.doctor import DaemonTools
from classroomd.simulators.base import DemoDevice
from classroomd.web import engineer
from tests.foundation.conftest import agent_config
from tests.support.mosquitto import Mosquitto

CHROMIUM = "/usr/bin/chromium"
PIN = "2468"
ENGINEER_PASSWORD = "engineer-secret"
DEVICES = ("scope-1", "panel-1", "printer-1", "tablet-1", "table-1", "globe-1")
PHONE = {"width": 412, "height": 915}  # a common Android phone, portrait

needs_chromium = [pytest.mark.chromium,
                  pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium")]


@dataclass
class Classroom:
    agent: Agent
    sims: list[DemoDevice]
    config_file: Path

    @property
    def url(self) -> str:
        return self.agent.http_base


CONFIG_TEXT = f"""site = "kz-test-01"
room = "biology"

[http]
listen = "127.0.0.1:0"
pin = "{PIN}"
"""


@pytest.fixture
def engineer_tools(tmp_path: Path) -> Iterator[Path]:
    """The daemon's tools, pointed at a config file of the test's own (the daemon takes it from --config)."""
    path = tmp_path / "classroomd.toml"
    path.write_text(CONFIG_TEXT)
    before = engineer.tools()
    engineer.use_tools(DaemonTools(config_file=path))
    yield path
    engineer.use_tools(before)


@pytest.fixture
async def classroom(tmp_path: Path, mosquitto: Mosquitto, engineer_tools: Path) -> AsyncIterator[Classroom]:
    # The console's log buffer reads what the daemon logs at INFO, as `classroomd run` sets it.
    logging.getLogger("classroomd").setLevel(logging.INFO)
    sims = await start_simulators(tmp_path / "sims", skip_kinds=set())
    config = agent_config(tmp_path, mosquitto.url,
                          http={"listen": "127.0.0.1:0", "pin": PIN, "engineer_password": ENGINEER_PASSWORD})
    agent = Agent(config, demo_devices=[s.config for s in sims])
    await agent.start()
    try:
        assert await agent.wait_connected(10)
        await wait_ready(agent)
        yield Classroom(agent, sims, engineer_tools)
    finally:
        await agent.stop()
        await stop_simulators(sims)
        logging.getLogger("classroomd").setLevel(logging.NOTSET)


async def wait_ready(agent: Agent, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            devices = {d.id: d for d in agent.all_devices()}
            if all(i in devices and str(devices[i].status) == "ready" for i in DEVICES):
                scope = devices["scope-1"].snapshot()
                if scope.get("online"):
                    return
            await asyncio.sleep(0.2)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        await chromium.close()


async def open_remote(browser: Any, classroom: Classroom, lang: str = "kk") -> Page:
    context = await browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    await context.add_init_script(f"localStorage.setItem('classroomd.lang', '{lang}')")
    page: Page = await context.new_page()
    watch_errors(page)
    await page.goto(f"{classroom.url}/")
    await page.wait_for_selector("#scope-card:not([hidden])")
    return page


PAGE_ERRORS: list[str] = []


def watch_errors(page: Page) -> None:
    page.on("pageerror", lambda error: PAGE_ERRORS.append(str(error)))


@pytest.fixture(autouse=True)
def no_script_errors() -> Iterator[None]:
    """A script error on a page is a failure even when the test's own checks passed."""
    PAGE_ERRORS.clear()
    yield
    assert PAGE_ERRORS == []


async def enter_pin(page: Page, pin: str = PIN) -> None:
    await page.wait_for_selector("#pin-dialog[open]")
    await page.fill("#pin", pin)
    await page.click("#pin-ok")


def screenshot_dir() -> Path | None:
    """Set CLASSROOMD_SCREENSHOTS=docs/screenshots to refresh the documentation's pictures."""
    value = os.environ.get("CLASSROOMD_SCREENSHOTS")
    return Path(value) if value else None
