"""The microscope through the real daemon: MQTT requests and events against Mosquitto, HTTP on its server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classroomd.daemon.agent import Agent
from classroomd.devices.base import Status
from tests.foundation.conftest import agent_config
from tests.microscope.videos import avi_video_packets
from tests.microscope.web import boundary_of, read_part
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe

ROOT = "classroom/kz-test-01/biology"


@pytest.fixture
async def daemon(tmp_path: Path, mosquitto: Mosquitto, video: Path) -> AsyncIterator[Agent]:
    scope = {"id": "scope-1", "kind": "microscope", "name": "Микроскоп", "source": video.resolve().as_uri(),
             "presets": ["10x", "40x"], "calibration": {"10x": 0.9}}
    agent = Agent(agent_config(tmp_path, mosquitto.url, devices=[scope]))
    await agent.start()
    try:
        assert await agent.wait_connected(10)
        yield agent
    finally:
        await agent.stop()


@pytest.fixture
async def probe(mosquitto: Mosquitto) -> AsyncIterator[Probe]:
    probe = Probe(mosquitto.port).connect()
    await asyncio.to_thread(probe.subscribe, f"{ROOT}/#")
    yield probe
    probe.close()


async def request(probe: Probe, target: str, action: str, args: dict[str, Any], transaction: int) -> Any:
    await asyncio.to_thread(probe.publish, f"{ROOT}/{target}/request/{action}",
                            json.dumps({**args, "transaction": transaction}))
    where: Callable[[Any], bool] = lambda r: r.get("transaction") == transaction  # noqa: E731
    return await asyncio.to_thread(probe.wait_topic, f"{ROOT}/{target}/response/{action}", 10, where)


async def test_capture_over_mqtt_replies_with_media_and_emits_captured(daemon: Agent, probe: Probe,
                                                                      video: Path) -> None:
    state = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/scope-1", 10, lambda s: s.get("online") is True)
    assert state["stream_url"] == f"{daemon.http_base}/devices/scope-1/stream"
    assert state["snapshot_url"] == f"{daemon.http_base}/devices/scope-1/snapshot"
    assert state["resolution"] == {"width": 320, "height": 240} and "fps" in state
    lesson = await request(probe, "agent", "lesson_start", {"subject": "Биология", "teacher": "Айгүл"}, 1)
    lesson_id = lesson["data"]["lesson"]["id"]

    reply = await request(probe, "scope-1", "capture", {"tags": ["onion"]}, 2)
    assert reply["status"] == "ok", reply
    data = reply["data"]
    assert data["url"] == f"{daemon.http_base}/media/{data['media_id']}"
    assert data["thumbnail_url"] == f"{daemon.http_base}/media/{data['media_id']}/thumb"
    assert data["lesson"] == lesson_id and data["um_per_px"] == 0.9 and data["size"] > 0
    event = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/scope-1/event/captured", 10)
    assert event["media_id"] == data["media_id"] and {"seq", "session", "ts"} <= set(event)
    async with aiohttp.ClientSession() as session:
        async with session.get(data["url"]) as response:
            assert response.status == 200
            assert await response.read() in avi_video_packets(video)
        async with session.get(state["stream_url"]) as response:
            boundary = boundary_of(response)
            seqs = {(await read_part(response, boundary)).seq for _ in range(4)}
            assert len(seqs) >= 3


async def test_calibrate_and_set_over_mqtt_and_errors(daemon: Agent, probe: Probe) -> None:
    await asyncio.to_thread(probe.wait_topic, f"{ROOT}/scope-1", 10, lambda s: s.get("online") is True)
    ok = await request(probe, "scope-1", "calibrate",
                       {"points": [[0, 0], [300, 0]], "distance_um": 60, "magnification": "40x"}, 3)
    assert ok["status"] == "ok" and ok["data"]["um_per_px"] == pytest.approx(0.2)
    await asyncio.to_thread(probe.wait_topic, f"{ROOT}/scope-1", 10,
                            lambda s: s.get("calibration", {}).get("40x") == pytest.approx(0.2))
    bad = await request(probe, "scope-1", "calibrate", {"points": [[5, 5], [5, 5]], "distance_um": 10}, 4)
    assert bad["status"] == "error" and bad["error"]["code"] == "bad_points"
    neg = await request(probe, "scope-1", "set", {"width": -1, "height": 480}, 5)
    assert neg["status"] == "error" and neg["error"]["code"] == "invalid_arguments"
    changed = await request(probe, "scope-1", "set", {"magnification": "40x"}, 6)
    assert changed["status"] == "ok" and changed["data"]["um_per_px"] == pytest.approx(0.2)


async def test_media_and_calibration_survive_a_daemon_restart(tmp_path: Path, mosquitto: Mosquitto, video: Path,
                                                              probe: Probe) -> None:
    scope = {"id": "scope-1", "kind": "microscope", "source": video.resolve().as_uri(), "presets": ["10x"]}
    config = agent_config(tmp_path, mosquitto.url, devices=[scope])
    first = Agent(config)
    await first.start()
    try:
        await asyncio.to_thread(probe.wait_topic, f"{ROOT}/scope-1", 10, lambda s: s.get("online") is True)
        lesson = (await request(probe, "agent", "lesson_start", {"subject": "Био", "teacher": "Ә"}, 11))
        lesson_id = lesson["data"]["lesson"]["id"]
        captured = (await request(probe, "scope-1", "capture", {}, 12))["data"]
        calibrated = await request(probe, "scope-1", "calibrate", {"points": [[0, 0], [100, 0]], "distance_um": 25}, 13)
        assert calibrated["status"] == "ok"
    finally:
        await first.stop()
    second = Agent(config)
    await second.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{second.http_base}/api/v1/media", params={"lesson": lesson_id}) as response:
                listing = await response.json()
            assert [m["id"] for m in listing["media"]] == [captured["media_id"]]
            async with session.get(f"{second.http_base}/media/{captured['media_id']}") as response:
                assert await response.read() in avi_video_packets(video)
        device = second.device("scope-1")
        assert device is not None
        async with asyncio.timeout(10):
            while device.status is not Status.READY:
                await asyncio.sleep(0.05)
        assert device.snapshot()["calibration"] == {"10x": 0.25}
    finally:
        await second.stop()
