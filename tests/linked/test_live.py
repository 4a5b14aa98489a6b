"""The hub's live microscope on the magnet's board, through the 1 Mbit/s, 150 ms link: budget, freshness, stalls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from classroomd.daemon.agent import Agent
from classroomd.services.linked_live import LIVE_BUDGET_BPS
from classroomd.simulators.microscope import start_demo
from tests.linked.conftest import HUB, MAGNET, config, open_board, until
from tests.support.link_proxy import LinkProxy
from tests.support.mosquitto import Mosquitto

pytestmark = [pytest.mark.chromium, pytest.mark.timeout(120)]


@pytest.fixture
async def pair(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[Agent, Agent, LinkProxy]]:
    scope = await start_demo(tmp_path / "sim")
    link = LinkProxy(mosquitto.port, rate_bps=1_000_000, delay_s=0.15)
    await link.start()
    hub = Agent(config(tmp_path / "hub", HUB, mosquitto.url), demo_devices=[scope.config])
    magnet = Agent(config(tmp_path / "magnet", MAGNET, link.url))
    try:
        for agent in (hub, magnet):
            await agent.start()
            assert await agent.wait_connected(15)
        yield hub, magnet, link
    finally:
        for agent in (hub, magnet):
            await agent.stop()
        await link.close()


async def arrivals(magnet: Agent, seconds: float) -> list[float]:
    """The age of each frame as it arrived at the magnet (sampled every 20 ms)."""
    assert magnet.linked is not None
    ages, seen = [], -1
    for _ in range(int(seconds / 0.02)):
        live = magnet.linked.live
        if live is not None and live.seq != seen:
            seen = live.seq
            ages.append(live.age_s)
        await asyncio.sleep(0.02)
    return ages


async def test_the_live_view_holds_its_budget_stays_fresh_and_does_not_queue_in_a_stall(
        pair: tuple[Agent, Agent, LinkProxy], browser: Any) -> None:
    hub, magnet, link = pair
    await open_board(browser, hub)
    page = await open_board(browser, magnet)
    await hub.actions.request("lesson_start", {"subject": "Биология", "teacher": "Айгүл", "linked": [MAGNET]})
    await until(lambda: magnet.lesson is not None, what="the magnet joined")
    scope = hub.device("scope-1")
    assert scope is not None
    await until(lambda: scope.snapshot()["status"] == "ready", what="the microscope ready")
    panel = hub.device("panel-1")
    assert panel is not None
    await panel.request("show", {"stream": "scope-1"})
    await page.wait_for_selector(f"#stage img.live[src='/linked/live/{HUB}/scope-1']", timeout=15000)
    await asyncio.sleep(2.0)  # the sender settles on a frame size

    before = link.down.bytes
    ages = await arrivals(magnet, 8.0)
    bitrate = (link.down.bytes - before) * 8 / 8.0
    assert bitrate <= LIVE_BUDGET_BPS * 1.1, bitrate
    assert len(ages) >= 8 and max(ages) < 2.0, ages
    first = await page.locator("#stage img.live").screenshot()
    await asyncio.sleep(1.0)
    assert await page.locator("#stage img.live").screenshot() != first  # it moves

    sender = hub.linked.live_sender if hub.linked else None
    assert sender is not None
    link.stall()
    sent = sender.seq
    await asyncio.sleep(4.0)
    assert sender.seq - sent <= 1  # one frame waits for its acknowledgement; nothing piles up behind it
    link.resume()
    await asyncio.sleep(2.0)
    fresh = await arrivals(magnet, 4.0)
    assert fresh and max(fresh) < 2.0, fresh

    await panel.request("show", {"clear": True})  # the live view ends with the hub's board
    await page.wait_for_selector("#stage .eyes", timeout=15000)
    await asyncio.sleep(1.0)
    settled = sender.seq
    await asyncio.sleep(1.0)
    assert sender.seq == settled
