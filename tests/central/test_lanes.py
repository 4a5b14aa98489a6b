"""The ingester's two lanes: live state on a connection of its own, handled before a backlog of
health reports and events."""

from __future__ import annotations

import json
from pathlib import Path

from classroomd.bus.client import Message
from classroomd.central.config import CentralConfig
from classroomd.central.db import open_database
from classroomd.central.ingester import Ingester
from classroomd.central.simulate import SimClassroom
from tests.central.harness import Central, wait_for

B = "classroom/kz-1/bio"


async def test_live_state_jumps_the_backlog(tmp_path: Path) -> None:
    cfg = CentralConfig.model_validate({"state_dir": str(tmp_path), "batch_max": 10})
    engine = await open_database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        ingester = Ingester(cfg, engine)
        await ingester.start()
        # Health and events come on their own connection; alerts stay with the live state, so an
        # agent's late "raised" never overtakes the "cleared" that followed it.
        assert [f for f, _ in ingester.client.subscriptions] == [
            "classroom/+/+/+", "classroom/+/+/+/availability", "classroom/+/+/alert/+"]
        assert ingester.history_client is not None
        assert [f for f, _ in ingester.history_client.subscriptions] == [
            "classroom/+/+/agent/health", "$share/central/classroom/+/+/+/event/#"]
        for seq in range(1, 26):
            body = {"seq": seq, "session": 1, "msg_id": f"1:{seq}:e", "replayed": True}
            ingester._receive_history(Message(f"{B}/scope-1/event/captured", json.dumps(body).encode()))
        ingester._receive(Message(f"{B}/scope-1/availability", b"offline"))
        first = ingester._take()
        # The availability change is in the first batch, with 9 of the 25 events.
        assert ("kz-1", "bio", "scope-1") in first.devices and len(first.events) == 9
        assert [len(ingester._take().events) for _ in range(3)] == [10, 6, 0]
        assert ingester.counts["queued"] == 0
        # A drop of the history connection is a break in the health stream, in order with it.
        epoch = ingester.handlers.epoch
        ingester._history_lost()
        ingester._take()
        assert ingester.handlers.epoch == epoch + 1
    finally:
        await engine.dispose()


async def test_an_events_only_ingester_keeps_one_connection(tmp_path: Path) -> None:
    cfg = CentralConfig.model_validate({"state_dir": str(tmp_path), "lanes": "events"})
    engine = await open_database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        ingester = Ingester(cfg, engine)
        await ingester.start()
        assert ingester.history_client is None and len(ingester.clients) == 1
        assert [f for f, _ in ingester.client.subscriptions] == ["$share/central/classroom/+/+/+/event/#"]
    finally:
        await engine.dispose()


async def test_both_connections_carry_their_lane(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-1", "bio")
    await sim.start(health_loop=False)
    try:
        await central.wait_presence("kz-1", "bio", "online")
        await sim.publish_health()
        await sim.publish_event()

        async def both() -> bool:
            counts = await central.counts()
            room = await central.classroom("kz-1", "bio") or {}
            return counts.get("events", 0) >= 1 and room.get("status") == "ok"

        await wait_for(both, 10, "the health report and the event")
        assert (await central.get("/healthz"))["broker"] == "connected"
    finally:
        await sim.stop()
