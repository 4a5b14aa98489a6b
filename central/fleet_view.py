"""What the fleet page and its live feed read: one light row per classroom and the counts on top.

Kept apart from queries.py because the page needs far less than the API's classroom objects
(no devices, no health JSON), and 2,000 classrooms are read on every page view.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import schema as t

STATES = ("online", "offline", "stale", "unknown")


@dataclass(frozen=True)
class Cell:
    site: str
    room: str
    presence: str
    since: float

    @property
    def key(self) -> str:
        return f"{self.site}/{self.room}"


@dataclass(frozen=True)
class Counts:
    classrooms: int
    online: int
    fault: int
    alerts: int


@dataclass(frozen=True)
class NewAlert:
    pk: int
    site: str
    room: str
    severity: str
    code: str
    message: str | None


async def cells(engine: AsyncEngine) -> list[Cell]:
    c = t.classrooms
    async with engine.connect() as conn:
        rows = (await conn.execute(select(c.c.site, c.c.room, c.c.presence, c.c.since)
                                   .order_by(c.c.site, c.c.room))).all()
    return [Cell(site, room, presence if presence in STATES else "unknown", since) for site, room, presence, since
            in rows]


async def counts(engine: AsyncEngine, rooms: list[Cell]) -> Counts:
    d, a = t.devices, t.alerts
    # A device is "in fault" when it reports a fault or its agent says it is gone offline.
    bad = (select(func.count()).select_from(d)
           .where(d.c.gone.is_(False), or_(d.c.status == "fault", d.c.availability == "offline")))
    async with engine.connect() as conn:
        fault = (await conn.execute(bad)).scalar_one()
        alerts = (await conn.execute(select(func.count()).select_from(a).where(a.c.cleared.is_(None)))).scalar_one()
    return Counts(len(rooms), sum(1 for r in rooms if r.presence == "online"), int(fault), int(alerts))


async def last_alert(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.max(t.alerts.c.pk)))).scalar_one() or 0)


async def alerts_after(engine: AsyncEngine, pk: int) -> list[NewAlert]:
    a = t.alerts
    async with engine.connect() as conn:
        rows = (await conn.execute(select(a.c.pk, a.c.site, a.c.room, a.c.severity, a.c.code, a.c.message)
                                   .where(a.c.pk > pk).order_by(a.c.pk).limit(50))).all()
    return [NewAlert(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def kinds(engine: AsyncEngine) -> list[str]:
    """Device kinds in the fleet, for the filter's choices."""
    d = t.devices
    async with engine.connect() as conn:
        found = (await conn.execute(select(d.c.kind).distinct()
                                    .where(d.c.gone.is_(False), d.c.kind.is_not(None)))).scalars().all()
    return sorted(found)


async def rooms_with(engine: AsyncEngine, kind: str) -> set[str]:
    """Keys of the rooms that have a device of this kind; read only when the page filters by kind."""
    d = t.devices
    async with engine.connect() as conn:
        rows = (await conn.execute(select(d.c.site, d.c.room).distinct()
                                   .where(d.c.gone.is_(False), d.c.kind == kind))).all()
    return {f"{site}/{room}" for site, room in rows}


async def last_seen(engine: AsyncEngine) -> dict[str, float | None]:
    """Each room's last message; read only when the page orders by it (kept out of `cells`, or every
    health report would be a change for the live feed)."""
    c = t.classrooms
    async with engine.connect() as conn:
        rows = (await conn.execute(select(c.c.site, c.c.room, c.c.last_seen))).all()
    return {f"{site}/{room}": seen for site, room, seen in rows}
