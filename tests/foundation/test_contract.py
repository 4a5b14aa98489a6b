"""The MQTT contract against a real Mosquitto: topics, retained state, requests and replies."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from classroomd.daemon.agent import Agent
from tests.foundation.lamp import Lamp
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe


async def probe_for(mosquitto: Mosquitto, root: str) -> Probe:
    probe = Probe(mosquitto.port).connect()
    await asyncio.to_thread(probe.subscribe, f"{root}/#")
    return probe


async def wait(probe: Probe, topic: str, where: Any = None, timeout: float = 10) -> Any:
    return await asyncio.to_thread(probe.wait_topic, topic, timeout, where)


def add_lamp(agent: Agent, device_id: str = "lamp-1") -> Lamp:
    lamp = Lamp(device_id)
    agent.registry.add(lamp)
    agent.supervisor.start(lamp)
    return lamp


async def test_agent_retained_state_and_will_payload(mosquitto: Mosquitto, make_agent: Any, root: str) -> None:
    agent = await make_agent(mosquitto.url)
    probe = await probe_for(mosquitto, root)
    state = await wait(probe, f"{root}/agent")
    assert state["state"] == "online"
    assert state["session"] == agent.session
    assert state["http"].startswith("http://127.0.0.1:")
    assert {"version", "host", "started"} <= set(state)
    assert (await wait(probe, f"{root}/lesson")) == {}
    assert (await wait(probe, f"{root}/devices")) == []
    retained = {m.topic for m in probe.messages if m.retain}
    assert {f"{root}/agent", f"{root}/lesson", f"{root}/devices"} <= retained
    probe.close()


async def test_device_inventory_state_availability(mosquitto: Mosquitto, make_agent: Any, root: str) -> None:
    agent = await make_agent(mosquitto.url)
    add_lamp(agent)
    probe = await probe_for(mosquitto, root)
    inventory = await wait(probe, f"{root}/devices", where=lambda v: len(v) == 1 and v[0]["status"] == "ready")
    assert inventory[0] == {"id": "lamp-1", "kind": "panel", "name": "Lamp lamp-1", "vendor": "Test",
                            "model": "L1", "availability": "online", "status": "ready"}
    state = await wait(probe, f"{root}/lamp-1")
    assert state["level"] == 0 and state["availability"] == "online"
    assert (await asyncio.to_thread(probe.wait_for, lambda m: m.topic == f"{root}/lamp-1/availability")
            ).payload == b"online"
    probe.close()


async def request(probe: Probe, root: str, target: str, action: str, payload: str | bytes,
                  timeout: float = 10) -> dict[str, Any]:
    topic = f"{root}/{target}/response/{action}"
    before = len(probe.on(topic))
    probe.publish(f"{root}/{target}/request/{action}", payload)
    await asyncio.to_thread(probe.wait_for, lambda m: m.topic == topic and len(probe.on(topic)) > before, timeout)
    reply: dict[str, Any] = probe.on(topic)[before].json()
    return reply


@pytest.mark.parametrize(
    ("target", "action", "payload", "code"),
    [
        ("agent", "ping", b"{not json", "bad_json"),
        ("agent", "ping", b"\xff\xfe", "bad_json"),
        ("agent", "ping", b"[1, 2]", "bad_request"),
        ("agent", "fly", b"{}", "unknown_action"),
        ("ghost-7", "ping", b"{}", "unknown_device"),
        ("lamp-1", "set", b'{"level": "bright"}', "invalid_arguments"),
        ("lamp-1", "set", b'{"level": 400}', "invalid_arguments"),
        ("lamp-1", "set", b'{"level": 4, "colour": "red"}', "invalid_arguments"),
        ("lamp-1", "explode", b"{}", "internal_error"),
        ("agent", "lesson_start", b'{"subject": 5}', "invalid_arguments"),
        ("agent", "lesson_end", b"{}", "no_lesson"),
    ],
)
async def test_bad_requests_get_exactly_one_error(mosquitto: Mosquitto, make_agent: Any, root: str,
                                                  target: str, action: str, payload: bytes, code: str) -> None:
    agent = await make_agent(mosquitto.url)
    add_lamp(agent)
    probe = await probe_for(mosquitto, root)
    reply = await request(probe, root, target, action, payload)
    assert reply["status"] == "error"
    assert reply["error"]["code"] == code
    assert reply["error"]["message"]
    await asyncio.sleep(0.5)
    assert len(probe.on(f"{root}/{target}/response/{action}")) == 1
    # and the daemon still answers
    pong = await request(probe, root, "agent", "ping", '{"transaction": "after"}')
    assert pong["status"] == "ok" and pong["transaction"] == "after"
    probe.close()


async def test_transaction_is_echoed_and_device_action_runs(mosquitto: Mosquitto, make_agent: Any,
                                                            root: str) -> None:
    agent = await make_agent(mosquitto.url)
    add_lamp(agent)
    probe = await probe_for(mosquitto, root)
    reply = await request(probe, root, "lamp-1", "set", json.dumps({"level": 42, "transaction": {"n": [1, 2]}}))
    assert reply == {"status": "ok", "transaction": {"n": [1, 2]}, "data": {"level": 42}}
    state = await wait(probe, f"{root}/lamp-1", where=lambda s: s["level"] == 42)
    assert state["status"] == "ready"
    event = await wait(probe, f"{root}/lamp-1/event/level_changed")
    assert event["level"] == 42 and event["session"] == agent.session and event["seq"] == 1
    assert event["msg_id"] and "ts" in event
    probe.close()


async def test_mqtt5_response_topic_and_correlation(mosquitto: Mosquitto, make_agent: Any, root: str) -> None:
    await make_agent(mosquitto.url)
    probe = await probe_for(mosquitto, root)
    await asyncio.to_thread(probe.subscribe, "replies/me")
    probe.publish(f"{root}/agent/request/ping", "{}", response_topic="replies/me", correlation=b"\x01corr")
    got = await asyncio.to_thread(probe.wait_for, lambda m: m.topic == "replies/me")
    assert got.correlation == b"\x01corr"
    assert got.json()["status"] == "ok" and got.json()["data"]["pong"] is True
    probe.close()


async def test_lesson_start_and_end(mosquitto: Mosquitto, make_agent: Any, root: str) -> None:
    agent = await make_agent(mosquitto.url)
    probe = await probe_for(mosquitto, root)
    reply = await request(probe, root, "agent", "lesson_start",
                          json.dumps({"subject": "Биология", "teacher": "Айгүл Серікқызы"}))
    assert reply["status"] == "ok"
    lesson = await wait(probe, f"{root}/lesson", where=lambda v: v != {})
    assert lesson["subject"] == "Биология" and lesson["id"] and lesson["started"]
    assert agent.lesson is not None and agent.lesson.id == lesson["id"]
    reply = await request(probe, root, "agent", "lesson_end", "{}")
    assert reply["data"]["lesson"]["id"] == lesson["id"]
    await wait(probe, f"{root}/lesson", where=lambda v: v == {})
    probe.close()


async def test_rebirth_republishes_retained(mosquitto: Mosquitto, make_agent: Any, root: str) -> None:
    agent = await make_agent(mosquitto.url)
    add_lamp(agent)
    probe = await probe_for(mosquitto, root)
    await wait(probe, f"{root}/lamp-1")
    retained = [f"{root}/agent", f"{root}/devices", f"{root}/lamp-1", f"{root}/lamp-1/availability"]
    counts = {topic: len(probe.on(topic)) for topic in retained}
    before = probe.on(f"{root}/lamp-1")[-1].json()
    reply = await request(probe, root, "agent", "rebirth", "{}")
    assert reply["status"] == "ok"
    for topic in retained:
        await asyncio.to_thread(probe.wait_for, lambda m, t=topic: m.topic == t and len(probe.on(t)) > counts[t])
    assert probe.on(f"{root}/lamp-1")[-1].json() == before, "a rebirth republishes the same state"
    assert probe.on(f"{root}/lamp-1/availability")[-1].payload == b"online"
    probe.close()


async def test_describe_lists_properties_and_action_schemas(mosquitto: Mosquitto, make_agent: Any,
                                                            root: str) -> None:
    agent = await make_agent(mosquitto.url)
    add_lamp(agent)
    probe = await probe_for(mosquitto, root)
    reply = await request(probe, root, "agent", "describe", '{"device": "lamp-1"}')
    described = reply["data"]["devices"][0]
    assert described["properties"]["level"] == {"type": "integer", "unit": "%", "writable": True}
    assert described["actions"]["set"]["args"]["properties"]["level"]["maximum"] == 100
    probe.close()


async def test_gone_devices_are_cleared_after_restart(mosquitto: Mosquitto, make_agent: Any, root: str,
                                                      tmp_path: Any) -> None:
    agent = await make_agent(mosquitto.url)
    add_lamp(agent, "lamp-old")
    probe = await probe_for(mosquitto, root)
    await wait(probe, f"{root}/lamp-old")
    await agent.stop()
    agent2 = await make_agent(mosquitto.url)
    assert agent2.session == agent.session + 1
    await asyncio.to_thread(probe.wait_for, lambda m: m.topic == f"{root}/lamp-old" and m.payload == b"")
    probe.close()
    # a fresh subscriber sees no retained state of the vanished device
    fresh = await probe_for(mosquitto, root)
    await wait(fresh, f"{root}/agent", where=lambda s: s["session"] == agent2.session)
    await asyncio.sleep(0.3)
    assert not [m for m in fresh.messages if m.topic.startswith(f"{root}/lamp-old") and m.payload]
    fresh.close()


async def test_alerts_are_retained_until_cleared(mosquitto: Mosquitto, make_agent: Any, root: str) -> None:
    from classroomd.devices.base import Localized

    agent = await make_agent(mosquitto.url)
    lamp = add_lamp(agent)
    probe = await probe_for(mosquitto, root)
    await wait(probe, f"{root}/lamp-1")
    agent.alert(lamp, "overheat", "critical", Localized("қызып кетті", "перегрев", "overheated"))
    alert = await wait(probe, f"{root}/alert/lamp-1-overheat")
    assert alert["message"] == {"kk": "қызып кетті", "ru": "перегрев", "en": "overheated"}
    assert alert["severity"] == "critical" and alert["device"] == "lamp-1" and alert["since"]
    agent.clear_alert(lamp, "overheat")
    await asyncio.to_thread(probe.wait_for, lambda m: m.topic == f"{root}/alert/lamp-1-overheat" and not m.payload)
    probe.close()


@pytest.mark.parametrize(("backend", "mqtt5"), [("amqtt", False), ("mosquitto", True)])
async def test_embedded_broker_speaks_what_its_backend_speaks(make_agent: Any, root: str, backend: str,
                                                              mqtt5: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from classroomd.bus.client import MQTT5, MQTT311
    from tests.support.mosquitto import free_port

    monkeypatch.setenv("CLASSROOMD_EMBEDDED_BROKER", backend)
    port = free_port()
    agent = await make_agent(f"embedded://127.0.0.1:{port}")
    assert agent.broker is not None and agent.broker.backend == backend
    # amqtt speaks 3.1.1 only; a Mosquitto child is reached with MQTT 5 (response topics work).
    assert agent.client.protocol == (MQTT5 if mqtt5 else MQTT311)
    probe = Probe(port, protocol=4).connect()
    await asyncio.to_thread(probe.subscribe, f"{root}/#")
    state = await wait(probe, f"{root}/agent")
    assert state["state"] == "online"
    reply = await request(probe, root, "agent", "ping", '{"transaction": 1}')
    assert reply["status"] == "ok" and reply["transaction"] == 1
    probe.close()


async def test_health_reports_device_statuses_and_degrades(mosquitto: Mosquitto, make_agent: Any,
                                                           root: str) -> None:
    from classroomd.devices.base import Status

    started = time.monotonic()
    agent = await make_agent(mosquitto.url, agent={"health_interval_s": 0.2})
    ok_lamp, bad_lamp = add_lamp(agent, "lamp-1"), add_lamp(agent, "lamp-2")
    probe = await probe_for(mosquitto, root)
    await wait(probe, f"{root}/agent/health", where=lambda h: h["devices"] == {"lamp-1": "ready", "lamp-2": "ready"})
    bad_lamp.set_status(Status.FAULT, "bulb missing")
    health = await wait(probe, f"{root}/agent/health", where=lambda h: h["status"] == "degraded")
    assert health["devices"] == {"lamp-1": "ready", "lamp-2": "fault"}
    assert health["session"] == agent.session
    # The agent started within this test: its uptime is the test's time so far, not a counter from elsewhere.
    assert 0 < health["uptime_s"] <= time.monotonic() - started + 0.5
    # Connected and idle, nothing waits in the outbox (the outage test sees it grow while the link is down).
    assert health["outbox_depth"] == 0
    state = await wait(probe, f"{root}/lamp-2", where=lambda s: s["status"] == "fault")
    assert state["reason"] == "bulb missing" and state["availability"] == "offline"
    assert ok_lamp.status is Status.READY
    probe.close()
