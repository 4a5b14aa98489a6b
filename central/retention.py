"""Keep the database small: health samples are thinned to one an hour after a week and
dropped after a year; events are dropped after their period. Availability intervals, daily
usage, alerts and the inventory are small and kept."""

from __future__ import annotations

import logging
import time

from sqlalchemy import Integer, cast, delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import schema as t

log = logging.getLogger("classroomd.central.retention")
DAY = 86400.0


async def apply(engine: AsyncEngine, now: float | None = None, raw_days: float = 7, health_days: float = 365,
                events_days: float = 365, bucket_s: int = 3600) -> dict[str, int]:
    now = time.time() if now is None else now
    h, e = t.health, t.events
    raw_cutoff, health_cutoff = now - raw_days * DAY, now - health_days * DAY
    old = (h.c.received < raw_cutoff) & (h.c.received >= health_cutoff)
    # CAST truncates on SQLite and rounds on PostgreSQL: either way one report per bucket stays.
    keep = (select(func.min(h.c.pk)).where(old)
            .group_by(h.c.site, h.c.room, cast(h.c.received / bucket_s, Integer)))
    async with engine.begin() as conn:
        thinned = (await conn.execute(delete(h).where(old, h.c.pk.not_in(keep)))).rowcount
        dropped = (await conn.execute(delete(h).where(h.c.received < health_cutoff))).rowcount
        events = (await conn.execute(delete(e).where(e.c.received < now - events_days * DAY))).rowcount
    counts = {"health_thinned": thinned, "health_dropped": dropped, "events_dropped": events}
    if any(counts.values()):
        log.info("retention: %s", counts)
    return counts
