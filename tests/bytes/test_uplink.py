"""The district link: a second connection from the agent, through a relay the tests can cut.

Real parts throughout: two Mosquitto processes, the agent, the demo classroom's simulators.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from classroomd.core.vocabulary import Localized
from classroomd.daemon.agent import Agent
from tests.bytes.conftest import ROOT, demo_devices, listen
from tests.foundation.lamp import Lamp
from tests.support.link_proxy import LinkProxy
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe

#: The issue's outage is ten minutes; the tests default to a few seconds (the mechanism is the same).
OUTAGE_S = float(os.environ.get("CLASSROOMD_TEST_UPLINK_OUTAGE_S", "4"))

DISTRICT_TOPICS = re.compile(
    rf"^{ROOT}/(agent|agent/health|devices|lesson|alert/[a-z0-9-]+|[a-z0-9-]+/availability"
    r"|[a-z0-9-]+/event/(job_started|job_finished|job_failed|job_cancelled|printer_error|timelapse_finished))$")


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def topics(probe: Probe) -> set[str]:
    with probe.lock:
        return {m.topic for m in probe.messages}


def bodies(probe: Probe, topic: str) -> list[dict[str, Any]]:
    return [m.json() for m in probe.on(topic) if m.payload]


async def test_the_district_receives_its_topics_and_nothing_else(
        tmp_path: Path, school: Mosquitto, district: Mosquitto, link: LinkProxy, classroom: Any) -> None:
    lan, up = listen(school.port, f"{ROOT}/#"), listen(district.port)
    async with demo_devices(tmp_path / "sims", skip={"microscope"}) as sims:
        agent: Agent = await classroom(school.url, [s.config for s in sims], link.url)
        await until(lambda: f"{ROOT}/tablet-1/event/activity" in topics(lan), 30, "pen activity on the LAN")
        lan.publish(f"{ROOT}/agent/request/lesson_start", json.dumps({"subject": "Биология", "teacher": "Айгүл"}))
        # A print's outcome, its progress ticks and a fault, as a printer reports them.
        lamp = Lamp("lamp-1")
        agent.registry.add(lamp)
        agent.supervisor.start(lamp)
        agent.emit(lamp, "job_finished", {"job": {"id": "j1", "outcome": "finished"}})
        agent.emit(lamp, "progress", {"job_id": "j1", "progress": 50.0})
        agent.alert(lamp, "thermal_runaway", "critical", Localized("қызу", "перегрев", "overheating"))
        await until(lambda: f"{ROOT}/alert/lamp-1-thermal-runaway" in topics(up)
                    and f"{ROOT}/lamp-1/event/job_finished" in topics(up)
                    and bool(bodies(up, f"{ROOT}/lesson")), 15, "alert, print outcome and lesson upstream")
        await asyncio.sleep(2)  # what else would arrive
        devices = [d.id for d in agent.registry]
    seen_up, seen_lan = topics(up), topics(lan)
    assert not {t for t in seen_up if not DISTRICT_TOPICS.match(t)}, seen_up
    assert {"tablet-1", "table-1"} <= set(devices)
    assert {f"{ROOT}/agent", f"{ROOT}/agent/health", f"{ROOT}/devices",
            *(f"{ROOT}/{d}/availability" for d in devices)} <= seen_up
    # The classroom keeps all its traffic.
    assert {f"{ROOT}/tablet-1", f"{ROOT}/lamp-1/event/progress", f"{ROOT}/table-1/event/activity"} <= seen_lan
    health = bodies(up, f"{ROOT}/agent/health")[-1]
    assert set(health["uplink"]) == {"bytes_sent_today", "connects_today"} and health["uplink"]["bytes_sent_today"] > 0
    assert all(set(u) <= {"active_min", "lesson_active_min"} for u in health.get("usage", {}).values())
    assert "uplink" in bodies(lan, f"{ROOT}/agent/health")[-1]
    lan.close()
    up.close()


async def test_the_agent_counts_the_bytes_the_wire_carried(
        tmp_path: Path, school: Mosquitto, link: LinkProxy, classroom: Any) -> None:
    agent: Agent = await classroom(school.url, [], link.url)
    lamp = Lamp("lamp-1")
    agent.registry.add(lamp)
    agent.supervisor.start(lamp)
    assert agent.uplink is not None
    await until(lambda: agent.uplink is not None and agent.uplink.client.connected.is_set(), 10, "the uplink")
    for n in range(20):
        agent.emit(lamp, "job_finished", {"n": n, "pad": "x" * n})
    await until(lambda: agent.uplink is not None and agent.uplink.outbox.depth == 0, 10, "the backlog drained")
    await agent.uplink.client.stop()
    await asyncio.sleep(0.3)
    sent, _received, connects = agent.uplink.traffic.today()
    assert connects == 1
    assert sent == link.upstream_bytes > 0


async def test_an_uplink_outage_loses_nothing_and_delivers_once_in_order(
        tmp_path: Path, school: Mosquitto, district: Mosquitto, link: LinkProxy, classroom: Any) -> None:
    lan, up = listen(school.port, f"{ROOT}/#"), listen(district.port)
    agent: Agent = await classroom(school.url, [], link.url, health_interval_s=0.5, drain_rate_per_s=20)
    lamp = Lamp("lamp-1")
    agent.registry.add(lamp)
    agent.supervisor.start(lamp)
    await until(lambda: len(bodies(up, f"{ROOT}/agent/health")) >= 2, 10, "health upstream")

    await link.cut()
    cut_at = time.time()
    lan_health_before = len(bodies(lan, f"{ROOT}/agent/health"))
    made: list[str] = []
    while time.time() - cut_at < OUTAGE_S:
        n = len(made)
        agent.alert(lamp, f"fault-{n}", "warning", Localized(f"ақау {n}", f"сбой {n}", f"fault {n}"))
        made.append(f"{ROOT}/alert/lamp-1-fault-{n}")
        agent.emit(lamp, "job_failed", {"n": n})
        await asyncio.sleep(OUTAGE_S / 8)
    assert agent.uplink is not None and agent.uplink.outbox.depth > len(made)
    # The classroom's broker never noticed.
    assert len(bodies(lan, f"{ROOT}/agent/health")) >= lan_health_before

    await link.restore()
    await until(lambda: agent.uplink is not None and agent.uplink.outbox.depth == 0, 60, "the backlog drained")
    await asyncio.sleep(0.5)

    alerts = [m for m in up.messages if m.topic.startswith(f"{ROOT}/alert/")]
    assert [m.topic for m in alerts] == made, "every alert, once, in the order raised"
    assert all(m.json()["replayed"] is True for m in alerts)
    failed = [m.json() for m in up.on(f"{ROOT}/lamp-1/event/job_failed")]
    assert [b["n"] for b in failed] == list(range(len(made)))
    health = [m.json() for m in up.on(f"{ROOT}/agent/health") if m.payload]
    seqs = [h["seq"] for h in health]
    late = [h for h in health if h.get("replayed")]
    assert len(late) >= OUTAGE_S / 0.5 - 2, "health made during the outage arrives after it"
    assert len({h["msg_id"] for h in late}) == len(late), "each late report once"
    # Nothing missing: from the first report to the last, every seq (a duplicate from the
    # moment of the cut is allowed by QoS 1, a gap is not).
    assert set(seqs) == set(range(seqs[0], max(seqs) + 1))
    assert [s for s in seqs if s in {h["seq"] for h in late}] == sorted(h["seq"] for h in late)
    lan.close()
    up.close()
