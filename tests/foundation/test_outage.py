"""Nothing is lost when the broker goes away: a real Mosquitto stopped and started again."""

from __future__ import annotations

import asyncio
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from classroomd.devices.base import Priority
from tests.foundation.lamp import Lamp
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe

OUTAGE_S = float(os.environ.get("CLASSROOMD_OUTAGE_S", "30"))


def by_stream(probe: Probe, root: str) -> dict[str, list[dict[str, Any]]]:
    streams: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for msg in list(probe.messages):
        if msg.payload and (msg.topic.endswith("/agent/health") or "/event/" in msg.topic):
            streams[msg.topic].append(json.loads(msg.payload))
    return streams


async def test_broker_outage_loses_nothing(tmp_path: Path, make_agent: Any, root: str) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    try:
        agent = await make_agent(broker.url, agent={"health_interval_s": 0.5})
        lamp = Lamp("lamp-1")
        agent.registry.add(lamp)
        agent.supervisor.start(lamp)
        probe = Probe(broker.port, client_id="district-monitor", persistent=True).connect()
        await asyncio.to_thread(probe.subscribe, f"{root}/#")

        emitted = 0
        stop = asyncio.Event()

        async def emit_events() -> None:
            nonlocal emitted
            while not stop.is_set():
                emitted += 1
                agent.emit(lamp, "tick", {"n": emitted}, Priority.EVENT)
                await asyncio.sleep(0.05)

        emitter = asyncio.create_task(emit_events())
        await asyncio.sleep(2)
        broker.stop()
        outage_started = emitted
        await asyncio.sleep(OUTAGE_S)
        assert agent.outbox.depth > 0, "the outbox should hold what could not be sent"
        broker.start()
        await asyncio.sleep(2)
        stop.set()
        await emitter

        tick_topic = f"{root}/lamp-1/event/tick"

        def complete() -> bool:
            got = {m["seq"] for m in by_stream(probe, root).get(tick_topic, [])}
            return got >= set(range(1, emitted + 1))

        for _ in range(300):
            if complete():
                break
            await asyncio.sleep(0.1)
        streams = by_stream(probe, root)
        probe.close()

        ticks = streams[tick_topic]
        ids = {m["msg_id"] for m in ticks}
        assert len(ids) == emitted, f"expected {emitted} distinct ticks, got {len(ids)}"
        assert sorted({m["seq"] for m in ticks}) == list(range(1, emitted + 1))
        assert all(m["session"] == agent.session for m in ticks)
        # every tick made while the broker was down arrived late and says so
        outage_ticks = {m["n"]: m for m in ticks if outage_started < m["n"] <= emitted - 40}
        assert outage_ticks and all(m.get("replayed") is True for m in outage_ticks.values())
        health = streams[f"{root}/agent/health"]
        seqs = sorted({m["seq"] for m in health})
        assert seqs == list(range(1, seqs[-1] + 1)), "health seq has gaps"
        # Health written during the outage says how much was waiting then.
        late = [m for m in health if m.get("replayed")]
        assert late and max(m["outbox_depth"] for m in late) > 10
        assert agent.outbox.depth <= 2
    finally:
        broker.stop()
