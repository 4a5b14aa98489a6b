from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from playwright.async_api import Page, async_playwright

from classroomd.bus.rpc import Remote
from classroomd.config.schema import Config
from classroomd.daemon.agent import Agent
from tests.support.link_proxy import LinkProxy
from tests.support.mosquitto import Mosquitto

CHROMIUM = "/usr/bin/chromium"
HUB, MAGNET, OTHER = "kz-hub/bio-7", "kz-magnet/bio-7", "kz-other/bio-7"


def config(state: Path, room: str, url: str) -> Config:
    site, name = room.split("/")
    return Config.model_validate({
        "site": site, "room": name,
        "mqtt": {"url": url, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "agent": {"state_dir": str(state), "health_interval_s": 30, "discovery": False, "mdns": False},
        "outbox": {"reconnect_jitter_s": 0, "drain_rate_per_s": 0},
        "http": {"listen": "127.0.0.1:0"},
        # A panel with no control port: the board alone, as on a panel whose browser is the kiosk.
        "devices": [{"id": "panel-1", "kind": "panel"}],
    })


@dataclass
class Rooms:
    broker: Mosquitto
    link: LinkProxy
    hub: Agent
    magnet: Agent
    other: Agent

    async def request(self, agent: Agent, action: str, args: dict[str, Any]) -> dict[str, Any]:
        async with Remote.for_url(self.broker.url, site=agent.config.site, room=agent.config.room) as remote:
            return await remote.request("agent", action, args, timeout=20)


@pytest.fixture
async def rooms(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[Rooms]:
    link = LinkProxy(mosquitto.port, rate_bps=1_000_000, delay_s=0.15)
    await link.start()
    agents = [Agent(config(tmp_path / room.replace("/", "-"), room, url))
              for room, url in ((HUB, mosquitto.url), (MAGNET, link.url), (OTHER, mosquitto.url))]
    for agent in agents:
        await agent.start()
    try:
        for agent in agents:
            assert await agent.wait_connected(15)
        yield Rooms(mosquitto, link, *agents)
    finally:
        for agent in agents:
            await agent.stop()
        await link.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip("needs Debian's chromium")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        await chromium.close()


async def open_board(browser: Any, agent: Agent, lang: str = "en") -> Page:
    page: Page = await browser.new_page(viewport={"width": 1280, "height": 720})
    await page.goto(f"{agent.http_base}/board?panel=panel-1&lang={lang}")
    await page.wait_for_selector("body[data-connected='1']")
    return page


def picture(bgr: tuple[int, int, int], size: tuple[int, int] = (1920, 1080), noise: int = 24) -> bytes:
    """A big noisy capture (far over the remote budget) of one colour: the pixels say which one is shown."""
    rng = np.random.default_rng(sum(bgr))
    image = np.clip(np.array(bgr, np.int16) + rng.integers(-noise, noise, (size[1], size[0], 3)), 0, 255)
    ok, buf = cv2.imencode(".jpg", image.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


async def push(agent: Agent, jpeg: bytes, **meta: Any) -> str:
    """What the hub's teacher does: a capture shown on her panel."""
    lesson = agent.lesson.id if agent.lesson else None
    item = await asyncio.to_thread(agent.media.save_capture, jpeg, {"device": "scope-1", "lesson": lesson, **meta})
    panel = agent.device("panel-1")
    assert panel is not None
    await panel.request("show", {"media": item.id})
    return item.id


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 15.0, what: str = "") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


async def colour_at(page: Page, selector: str) -> tuple[int, int, int]:
    """The screen's RGB at the centre of an element, from a real screenshot."""
    box = await page.locator(selector).bounding_box()
    assert box is not None
    shot = cv2.imdecode(np.frombuffer(await page.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    b, g, r = shot[int(box["y"] + box["height"] / 2), int(box["x"] + box["width"] / 2)]
    return int(r), int(g), int(b)


class BoardSocket:
    """A board without a browser: the board's own WebSocket, acknowledging every show, keeping what came."""

    def __init__(self, agent: Agent, panel: str = "panel-1") -> None:
        self.url = f"{agent.http_base.replace('http', 'ws', 1)}/board/ws?panel={panel}"
        self.messages: list[dict[str, Any]] = []
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BoardSocket:
        self._session = aiohttp.ClientSession()
        ws = await self._session.ws_connect(self.url)
        self._task = asyncio.create_task(self._read(ws))
        return self

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            data = message.json()
            self.messages.append(data)
            if data.get("type") == "show":
                await ws.send_json({"type": "ack", "id": data["id"], "kind": "test"})

    def ink(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "ink"]

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


async def board_current(agent: Agent, panel: str = "panel-1") -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{agent.http_base}/board/current?panel={panel}") as reply:
        body: dict[str, Any] = await reply.json()
        return body
