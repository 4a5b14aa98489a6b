"""`[linked]` in the agent: default rooms for a lesson started without `linked`, and offers shown at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from classroomd.config.schema import LinkedConfig
from classroomd.daemon.agent import Agent
from tests.linked.conftest import HUB, MAGNET, BoardSocket, board_current, config, picture, until
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def pair(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[Agent, Agent]]:
    hub_config = config(tmp_path / "hub", HUB, mosquitto.url).model_copy(
        update={"linked": LinkedConfig(rooms=[MAGNET], accept_offers="always")})
    agents = [Agent(hub_config), Agent(config(tmp_path / "magnet", MAGNET, mosquitto.url))]
    for agent in agents:
        await agent.start()
    try:
        for agent in agents:
            assert await agent.wait_connected(15)
        yield agents[0], agents[1]
    finally:
        for agent in agents:
            await agent.stop()


async def test_a_lesson_without_linked_links_the_configured_rooms(pair: tuple[Agent, Agent]) -> None:
    hub, magnet = pair
    reply = await hub.actions.request("lesson_start", {"subject": "Биология", "teacher": "Айгүл"})
    assert reply["linked"]["rooms"] == [MAGNET]
    lesson = reply["lesson"]["id"]
    await until(lambda: magnet.lesson is not None and magnet.lesson.id == lesson, what="the magnet joined")

    # An explicit empty list links none: the magnet is let go, and the reply names no linked lesson.
    reply = await hub.actions.request("lesson_start", {"subject": "Химия", "teacher": "Айгүл", "linked": []})
    assert "linked" not in reply
    await until(lambda: magnet.lesson is None, what="the magnet left the ended linked lesson")


async def test_always_shows_an_offer_without_the_teacher(pair: tuple[Agent, Agent]) -> None:
    hub, magnet = pair
    async with BoardSocket(hub), BoardSocket(magnet):
        reply = await hub.actions.request("lesson_start", {"subject": "Биология", "teacher": "Айгүл"})
        await until(lambda: magnet.lesson is not None and magnet.lesson.id == reply["lesson"]["id"],
                    what="the magnet joined")
        item = await asyncio.to_thread(magnet.media.save_capture, picture((40, 200, 40)), {"device": "scope-2"})
        offered = await magnet.actions.request("linked_offer", {"media": item.id})
        assert len(offered["offered"]["thumb"]) * 3 / 4 <= 8 * 1024  # the thumbnail rides in the offer

        async def shown_at_hub() -> bool:
            content = (await board_current(hub))["content"] or {}
            media = hub.media.get(str(content.get("media")))
            return media is not None and media.meta.get("linked_origin") == f"{MAGNET}:{item.id}"

        await until(shown_at_hub, timeout=20, what="the offer on the hub's board with nobody accepting")
        assert magnet.linked is not None
        await until(lambda: (magnet.linked.my_offer or {}).get("state") == "shown", what="the magnet told")
