"""Retention on both engines: health samples thinned after a week, dropped after a year."""

from __future__ import annotations

from sqlalchemy import func, select

from classroomd.central import retention, schema, store
from classroomd.central.batch import Batch
from classroomd.central.db import open_database

NOW = 1_800_000_000.0
DAY = 86400.0


async def test_old_health_is_thinned_then_dropped_and_recent_kept(db_url: str) -> None:
    engine = await open_database(db_url)
    try:
        batch = Batch()
        seq = 0
        # every 30 s: 10 days ago (old: thinned), 2 days ago (recent: kept), 400 days ago (dropped)
        for start in (NOW - 10 * DAY, NOW - 2 * DAY, NOW - 400 * DAY):
            for i in range(240):  # two hours
                seq += 1
                batch.health.append({"site": "s", "room": "r", "session": 1, "seq": seq, "ts": None,
                                     "received": start + 30 * i, "status": "ok", "uptime_s": 1.0,
                                     "outbox_depth": 0, "outbox_dropped": 0, "replayed": False, "devices": None})
        batch.events.append({"site": "s", "room": "r", "device": "d", "name": "n", "msg_id": "1:1:x",
                             "session": 1, "seq": 1, "ts": None, "received": NOW - 400 * DAY, "replayed": False,
                             "payload": "{}"})
        await store.commit(engine, batch)
        counts = await retention.apply(engine, now=NOW)
        assert counts["health_dropped"] == 240 and counts["events_dropped"] == 1
        async with engine.connect() as conn:
            h = schema.health
            recent = (await conn.execute(select(func.count()).where(h.c.received > NOW - 3 * DAY))).scalar_one()
            old = (await conn.execute(select(func.count()).where(h.c.received < NOW - 3 * DAY))).scalar_one()
        assert recent == 240
        assert 2 <= old <= 3  # two hours in one-hour buckets
        assert (await retention.apply(engine, now=NOW))["health_thinned"] == 0  # idempotent
    finally:
        await engine.dispose()
