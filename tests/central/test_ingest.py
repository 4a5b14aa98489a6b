"""The event lane and the health stream: idempotent, late data never overwrites live state,
bad input is counted and never stops ingest."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import func, select

from classroomd.central import schema
from classroomd.central.db import open_database
from classroomd.central.ingester import Ingester
from classroomd.central.simulate import SimClassroom
from tests.central.harness import Central, wait_for


async def _rows(db: str, table: Any, **where: Any) -> int:
    engine = await open_database(db)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(table)
            for column, value in where.items():
                query = query.where(table.c[column] == value)
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def test_the_same_event_twice_and_through_two_ingesters_is_one_row(central: Central) -> None:
    # A second ingester on the same database shares the event lane ($share/central/…).
    second_engine = await open_database(central.db)
    second = Ingester(central.cfg.model_copy(update={"client_id": "central-second", "lanes": "events"}),
                      second_engine)
    await second.start()
    task = asyncio.create_task(second.run())
    try:
        await wait_for(lambda: _connected(second), 10, "the second ingester")
        sim = SimClassroom(central.broker, "kz-003", "bio", session=4)
        await sim.start(health_loop=False)
        events = [await sim.publish_event() for _ in range(5)]
        for event in events:  # QoS 1 redelivery, or the outbox resending after a lost PUBACK
            await sim.publish_event(body=event)
            await sim.publish_event(body=event)

        async def stored() -> int:
            return await _rows(central.db, schema.events, site="kz-003") == 5 and \
                (await central.counts()).get("events", 0) + second.counts.get("events", 0) >= 15

        await wait_for(stored, 10, "15 deliveries stored as 5 rows")
        # Both ingesters took part: the shared subscription split the lane between them.
        assert second.counts.get("events", 0) > 0 and (await central.counts()).get("events", 0) > 0
        await asyncio.sleep(0.3)
        assert await _rows(central.db, schema.events, site="kz-003") == 5
        await sim.stop()
    finally:
        second.stop()
        await task
        await second_engine.dispose()


async def _connected(ingester: Ingester) -> bool:
    return ingester.client.connected.is_set()


async def test_replayed_data_fills_history_but_not_the_live_view_and_raises_nothing(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-004", "geo", session=9)
    await sim.start(health_loop=False)
    await sim.publish_health()
    await central.wait_presence("kz-004", "geo", "online")
    await wait_for(lambda: _status(central, "kz-004", "geo", "ok"), 5, "live health")
    live = await central.classroom("kz-004", "geo")
    assert live is not None

    # An hour-long outage drained from an outbox: an older session's reports, bad news all.
    old = SimClassroom(central.broker, "kz-004", "geo", session=8)
    for seq in range(1, 11):
        body = {**old.health_payload(seq=seq, replayed=True), "status": "fault", "outbox_depth": 100 * seq,
                "devices": {"scope-1": "fault", "panel-front": "lost", "tablet-1": "fault"}}
        await sim.publish(sim.topics.health, json.dumps(body).encode(), retain=True)
        await sim.publish_event(body={**old.envelope("scope-1/event/captured", replayed=True), "media_id": "x"})
    await wait_for(lambda: _count_rows(central.db, schema.health, 11), 10, "the replayed reports in history")
    await wait_for(lambda: _count_rows(central.db, schema.events, 10), 10, "the replayed events in history")

    await asyncio.sleep(2.0)  # past the device pending period (1.5 s here)
    now = await central.classroom("kz-004", "geo")
    assert now is not None and now["status"] == "ok" and now["outbox_depth"] == 0
    assert all(d["status"] == "ready" for d in now["devices"])
    assert now["last_seen"] == live["last_seen"]
    assert await central.alerts() == []
    await sim.stop()


async def _status(central: Central, site: str, room: str, status: str) -> bool:
    entry = await central.classroom(site, room)
    return entry is not None and entry["status"] == status


async def _count_rows(db: str, table: Any, expected: int) -> bool:
    return await _rows(db, table) == expected


async def test_malformed_payloads_and_unknown_topics_are_counted_never_a_crash(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-005", "art", session=1)
    await sim.start(health_loop=False)
    await central.wait_presence("kz-005", "art", "online")
    before = await central.counts()
    bad: list[tuple[str, bytes]] = [
        ("classroom/kz-005/art/agent", b"not json"),
        ("classroom/kz-005/art/agent", b'{"state": "dancing", "session": 1}'),
        ("classroom/kz-005/art/agent/health", b'{"seq": "x"}'),
        ("classroom/kz-005/art/agent/health", b"\xff\xfe"),
        ("classroom/kz-005/art/devices", b'{"not": "a list"}'),
        ("classroom/kz-005/art/scope-1/availability", b"maybe"),
        ("classroom/kz-005/art/scope-1", b"[1, 2]"),
        ("classroom/kz-005/art/scope-1/event/captured", b'{"no": "msg_id"}'),
        ("classroom/kz-005/art/alert/x", b"[]"),
        ("classroom/kz-005/art/scope-1/event/captured", b'{"msg_id": "1:1:x", "note": "\\u0000"}'),
    ]
    unknown: list[tuple[str, bytes]] = [
        ("classroom/kz-005/art/Bad Id!", b"{}"),
        ("classroom/kz-005/art/alert", b"{}"),
        ("classroom/kz-005/art/alert/", b"{}"),
        ("classroom/" + "s" * 200 + "/art/agent", b"{}"),
        ("classroom/kz-005/art/scope-1/event", b"{}"),
    ]
    for topic, payload in bad + unknown:
        await sim.publish(topic, payload)
    # Odd characters in a site id are the site's business: they are stored as they are.
    odd = SimClassroom(central.broker, "мектеп №5 (ауыл)", "room (A)", session=1)
    await odd.start(health_loop=False)

    async def counted() -> bool:
        now = await central.counts()
        return (now.get("malformed", 0) - before.get("malformed", 0) >= len(bad)
                and now.get("unknown_topic", 0) - before.get("unknown_topic", 0) >= len(unknown))

    await wait_for(counted, 10, "every bad message counted")
    # Still ingesting: a good report after all of that lands.
    await sim.publish_health()
    await wait_for(lambda: _status(central, "kz-005", "art", "ok"), 5, "a good report after the bad ones")
    assert await central.wait_presence("мектеп №5 (ауыл)", "room (A)", "online")
    await sim.stop()
    await odd.stop()
