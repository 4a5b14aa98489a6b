"""Alerts: pending periods, hysteresis, the agents' own alerts, acknowledgement and history."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from classroomd.central.simulate import SimClassroom
from tests.central.harness import Central, wait_for
from tests.support.mosquitto import Mosquitto


async def test_offline_alert_waits_for_its_pending_period_and_a_blip_raises_nothing(
        mosquitto: Mosquitto, db_url: str, tmp_path: Path) -> None:
    # A longer pending period than the other tests use, so that a reconnect slowed down by a busy
    # machine is still a blip.
    central = Central(mosquitto.url, db_url, tmp_path / "state", {"offline_alert_s": 4.0})
    await central.start()
    try:
        await _blip_and_outage(central)
    finally:
        await central.close()


async def _blip_and_outage(central: Central) -> None:
    blips = SimClassroom(central.broker, "kz-010", "a", session=1)
    leaves = SimClassroom(central.broker, "kz-010", "b", session=1)
    for sim in (blips, leaves):
        await sim.start(health_loop=False)
        await central.wait_presence(sim.site, sim.room, "online")
    await blips.kill()
    await leaves.kill()
    await central.wait_presence("kz-010", "a", "offline")
    # Back within the pending period (4 s here, 15 min by default): a blip, not an outage.
    await blips.restart(new_session=False, health_loop=False)
    await central.wait_presence("kz-010", "a", "online")

    raised = await wait_for(lambda: central.alerts("classroom_offline", active=True), 8, "the outage's alert")
    assert [(a["site"], a["room"], a["severity"]) for a in raised] == [("kz-010", "b", "critical")]
    await asyncio.sleep(0.5)
    assert [a["room"] for a in await central.alerts("classroom_offline")] == ["b"]

    # Back for good: cleared once online longer than the hysteresis, and kept in history.
    await leaves.restart(health_loop=False)
    await wait_for(lambda: _none_active(central, "classroom_offline"), 5, "the alert to clear")
    history = await central.alerts("classroom_offline")
    assert len(history) == 1 and history[0]["cleared"] is not None and not history[0]["active"]
    steps = await central.get(f"/api/v1/alerts/{history[0]['id']}/history")
    assert [s["what"] for s in steps] == ["raised", "cleared"]
    for sim in (blips, leaves):
        await sim.stop()


async def _none_active(central: Central, code: str) -> bool:
    return not await central.alerts(code, active=True)


async def test_agent_alerts_follow_the_retained_topic_and_can_be_acknowledged(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-011", "lab", session=1)
    await sim.start(health_loop=False)
    await sim.raise_alert("printer-1", "thermal_runaway")
    raised = await wait_for(lambda: central.alerts("thermal_runaway", active=True), 5, "the agent's alert")
    alert = raised[0]
    assert alert["source"] == "agent" and alert["device"] == "printer-1"

    assert central.http is not None
    url = f"{central.base}/api/v1/alerts/{alert['id']}/ack"
    async with central.http.post(url, json={"by": "Aigul"}) as response:
        assert response.status == 401
    headers = {"Authorization": f"Bearer {central.token}"}
    async with central.http.post(url, json={"by": "Aigul", "note": "printer unplugged"},
                                 headers=headers) as response:
        assert response.status == 200
        acked = await response.json()
    assert acked["ack"]["by"] == "Aigul" and acked["ack"]["note"] == "printer unplugged" and acked["active"]
    async with central.http.post(f"{central.base}/api/v1/alerts/999999/ack", json={},
                                 headers=headers) as response:
        assert response.status == 404

    await sim.clear_alert("printer-1", "thermal_runaway")
    await wait_for(lambda: _none_active(central, "thermal_runaway"), 5, "the agent's clear")
    steps = await central.get(f"/api/v1/alerts/{alert['id']}/history")
    assert [s["what"] for s in steps] == ["raised", "acked", "cleared"]
    await sim.stop()


async def test_device_offline_health_gap_and_growing_outbox(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-012", "music", session=5)
    await sim.start(health_loop=False)
    await central.wait_presence("kz-012", "music", "online")
    await sim.set_availability("scope-1", "offline")
    for depth in (10, 150, 300, 900):
        sim.outbox_depth = depth
        await sim.publish_health()
    sim.seq["agent/health"] += 3  # three reports lost between the agent and the broker
    await sim.publish_health()

    # The gap alert holds for gap_hold_s (1 s here) after the last gap, then clears.
    await wait_for(lambda: central.alerts("health_gap"), 5, "the gap alert")
    await wait_for(lambda: central.alerts("device_offline", active=True), 5, "the device alert")
    await wait_for(lambda: central.alerts("outbox_growing", active=True), 5, "the outbox alert")
    device_alert = (await central.alerts("device_offline"))[0]
    assert device_alert["device"] == "scope-1"

    await sim.set_availability("scope-1", "online")
    sim.outbox_depth = 0
    await sim.publish_health()
    for code in ("device_offline", "outbox_growing", "health_gap"):
        await wait_for(lambda code=code: _none_active(central, code), 5, f"{code} to clear")
    await sim.stop()


async def test_agent_alert_payload_without_message_still_raises(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-013", "x", session=1)
    await sim.start(health_loop=False)
    await sim.publish(sim.topics.alert("globe-lost"), json.dumps({"code": "lost"}).encode(), retain=True)
    found = await wait_for(lambda: central.alerts("lost", active=True), 5, "a sparse alert")
    assert found[0]["severity"] == "warning"
    await sim.clear_alert("globe", "lost")
    await sim.stop()
