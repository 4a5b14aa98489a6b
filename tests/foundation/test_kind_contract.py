"""The per-kind fields other tools rely on (the contract), read over MQTT from the demo classroom:
every simulated device opened by its real device class, on a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from classroomd.daemon.agent import Agent
from classroomd.daemon.demo import start_simulators, stop_simulators
from classroomd.simulators.base import DemoDevice
from classroomd.simulators.globe import GlobeSimulator
from tests.foundation.conftest import agent_config
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe

ROOT = "classroom/kz-test-01/biology"


@pytest.fixture
async def classroom(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[tuple[Agent, Probe, list[DemoDevice]]]:
    sims = await start_simulators(tmp_path / "sims", skip_kinds=set())
    agent = Agent(agent_config(tmp_path, mosquitto.url), demo_devices=[s.config for s in sims])
    probe = Probe(mosquitto.port).connect()
    await asyncio.to_thread(probe.subscribe, f"{ROOT}/#")
    await agent.start()
    try:
        yield agent, probe, sims
    finally:
        probe.close()
        await agent.stop()
        await stop_simulators(sims)


async def state_of(probe: Probe, device_id: str, where: Any = None) -> dict[str, Any]:
    ready = where or (lambda s: s.get("status") == "ready")
    result: dict[str, Any] = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/{device_id}", 20, ready)
    return result


async def request(probe: Probe, target: str, action: str, args: dict[str, Any]) -> dict[str, Any]:
    topic = f"{ROOT}/{target}/response/{action}"
    before = len(probe.on(topic))
    probe.publish(f"{ROOT}/{target}/request/{action}", json.dumps({**args, "transaction": action}))
    await asyncio.to_thread(probe.wait_for, lambda m: m.topic == topic and len(probe.on(topic)) > before, 20)
    reply: dict[str, Any] = probe.on(topic)[-1].json()
    return reply


async def test_each_kind_publishes_the_fields_the_contract_names(
        classroom: tuple[Agent, Probe, list[DemoDevice]]) -> None:
    agent, probe, sims = classroom
    # The looped demo video plays at its own rate: a measured rate of zero would mean no frames arrive.
    scope = await state_of(probe, "scope-1", lambda s: s.get("online") is True and s.get("fps", 0) > 0)
    assert scope["stream_url"].startswith(agent.http_base) and scope["snapshot_url"].startswith(agent.http_base)
    assert 1 <= scope["fps"] <= 120

    capture = await request(probe, "scope-1", "capture", {})
    assert capture["status"] == "ok", capture
    assert {"media_id", "url", "thumbnail_url"} <= set(capture["data"])

    panel = await state_of(probe, "panel-1", lambda s: "power" in s and "input" in s)
    assert panel["board_url"].startswith(agent.http_base) and "/board" in panel["board_url"]

    printer = await state_of(probe, "printer-1")
    assert {"temperatures", "job", "progress"} <= set(printer)
    history = await request(probe, "printer-1", "history", {})
    assert history["status"] == "ok" and isinstance(history["data"]["jobs"], list)

    for device_id in ("tablet-1", "table-1", "globe-1"):
        await state_of(probe, device_id)

    globe = next(s.handle for s in sims if s.config.kind == "globe")
    assert isinstance(globe, GlobeSimulator)
    globe.touch(0x01)  # a line on the simulator's pty, read and decoded by the device's serial driver
    touched = await asyncio.to_thread(
        probe.wait_topic, f"{ROOT}/globe-1/event/touched", 10, lambda e: e.get("country") == "KZ")
    assert touched["name"] == {"kk": "Қазақстан", "ru": "Казахстан", "en": "Kazakhstan"}

    health = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/agent/health", 40,
                                     lambda h: "usage" in h and "globe-1" in h["usage"])
    assert {"active_min", "events_per_min", "last_activity"} <= set(health["usage"]["globe-1"])
    assert {"tablet-1", "table-1"} <= set(health["usage"])
