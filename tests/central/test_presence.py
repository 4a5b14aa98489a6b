"""Presence: the will, the session guard, a restart of central, and central losing its broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from classroomd.central.simulate import SimClassroom
from tests.central.harness import Central, wait_for
from tests.central.silent_link import SilentLink
from tests.support.mosquitto import Mosquitto


async def test_will_marks_the_classroom_offline_and_keeps_its_last_state(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-095", "biology", session=3)
    await sim.start(health_loop=False)
    await sim.publish_health()
    online = await central.wait_presence("kz-095", "biology", "online")
    assert {d["id"] for d in online["devices"]} == {"panel-front", "scope-1", "tablet-1"}

    killed = time.monotonic()
    await sim.kill()
    offline = await central.wait_presence("kz-095", "biology", "offline")
    # Well inside the target of keepalive × 1.5 + 5 s: the broker sends the will at once.
    assert time.monotonic() - killed < 5
    # The last known inventory and health stay visible, with their age.
    assert len(offline["devices"]) == 3 and offline["status"] == "ok"
    assert offline["last_seen"] is not None and offline["age_s"] is not None


async def test_a_will_from_an_older_session_after_the_new_birth_is_ignored(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-095", "physics", session=7)
    await sim.start(health_loop=False)
    await central.wait_presence("kz-095", "physics", "online")
    # The previous session's will, delivered late (Sparkplug's bdSeq case).
    late_will = {"state": "offline", "session": 6, "version": "x", "host": "h", "started": "t", "http": "u"}
    await sim.publish(sim.topics.agent, json.dumps(late_will).encode(), retain=False)
    await wait_for(lambda: _count(central, "stale_session"), 5, "the late will to be counted")
    assert await central.presence("kz-095", "physics") == "online"
    await sim.stop()


async def _count(central: Central, name: str) -> int:
    return (await central.counts()).get(name, 0)


async def test_restarted_central_rebuilds_presence_from_retained_messages(
        central: Central, new_db: Callable[[], Awaitable[str]]) -> None:
    stays = SimClassroom(central.broker, "kz-001", "a", session=2)
    leaves = SimClassroom(central.broker, "kz-001", "b", session=2)
    for sim in (stays, leaves):
        await sim.start(health_loop=False)
    await central.wait_presence("kz-001", "a", "online")
    await central.wait_presence("kz-001", "b", "online")
    await stays.raise_alert("scope-1", "no_frames")
    await wait_for(lambda: central.alerts("no_frames"), 5, "the agent's alert")

    await central.stop()
    await leaves.kill()  # its will arrives while central is away
    await asyncio.sleep(0.2)
    await central.start()
    await central.wait_presence("kz-001", "b", "offline")
    assert await central.presence("kz-001", "a") == "online"
    # The retained alert and the unchanged presence come again: no second alert, no new interval.
    await asyncio.sleep(0.3)
    assert len(await central.alerts("no_frames")) == 1
    uptime = await central.get("/api/v1/classrooms/kz-001/a/availability")
    assert set(uptime["seconds"]) == {"online"}

    # A central with an empty database learns the whole fleet from the retained lane alone.
    fresh = Central(central.broker, await new_db(), central.state_dir.parent / "fresh")
    await fresh.start()
    try:
        await fresh.wait_presence("kz-001", "a", "online")
        await fresh.wait_presence("kz-001", "b", "offline")
        entry = await fresh.classroom("kz-001", "a")
        assert entry is not None and len(entry["devices"]) == 3
    finally:
        await fresh.close()
    await stays.stop()


async def test_central_losing_its_broker_marks_classrooms_stale_not_offline(
        central: Central, mosquitto: Mosquitto) -> None:
    sim = SimClassroom(central.broker, "kz-002", "chem", session=1)
    await sim.start(health_loop=False)
    await central.wait_presence("kz-002", "chem", "online")

    mosquitto.stop()
    entry = await central.wait_presence("kz-002", "chem", "stale")
    assert all(d["availability"] == "stale" for d in entry["devices"])
    # Longer than the offline pending period (2.5 s here): still no alert, central cannot know.
    await asyncio.sleep(3.0)
    assert await central.alerts("classroom_offline") == []
    assert (await central.get("/healthz"))["status"] == "degraded"

    mosquitto.start()  # same port, retained messages persisted
    await central.wait_presence("kz-002", "chem", "online", timeout=20)
    await sim.stop()


async def test_a_silent_link_is_offline_within_keepalive_and_a_half(mosquitto: Mosquitto, tmp_path: Path) -> None:
    # The broker's keepalive timer, not storage, is under test here: one engine is enough.
    central = Central(mosquitto.url, f"sqlite:///{tmp_path / 'c.sqlite3'}", tmp_path / "state")
    await central.start()
    link = SilentLink(mosquitto.port)
    await link.start()
    sim = SimClassroom(f"mqtt://127.0.0.1:{link.port}", "kz-030", "far", session=1, keepalive_s=2)
    try:
        await sim.start(health_loop=False)
        await central.wait_presence("kz-030", "far", "online")
        link.silent = True
        went_silent = time.monotonic()
        await central.wait_presence("kz-030", "far", "offline", timeout=15)
        # The target is keepalive × 1.5 + 5 s; Mosquitto gives up after keepalive × 1.5.
        assert time.monotonic() - went_silent < 2 * 1.5 + 5
    finally:
        await sim.kill()
        await link.stop()
        await central.close()
