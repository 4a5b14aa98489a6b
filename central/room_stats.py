"""Figures of classrooms over weeks: uptime from the stored intervals, lessons per week.

Shared by the school page (every room of a school at once) and the room page (one room).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import schema as t

Span = tuple[str, float, float | None]


def uptime(spans: Iterable[Span], start: float, end: float) -> float | None:
    """The share (%) of known time online in [start, end); None when central knew nothing then.

    Time before the first interval is not counted: central had not seen the room yet.
    """
    known = online = 0.0
    for state, s, e in spans:
        a, b = max(s, start), min(e if e is not None else end, end)
        if b > a:
            known += b - a
            if state == "online":
                online += b - a
    return online / known * 100 if known else None


async def room_spans(engine: AsyncEngine, site: str, room: str | None, start: float) -> dict[str, list[Span]]:
    """The classrooms' own intervals (device "") since `start`, per room."""
    i = t.intervals
    query = (select(i.c.room, i.c.state, i.c.start, i.c.end)
             .where(i.c.site == site, i.c.device == "", (i.c.end.is_(None)) | (i.c.end > start))
             .order_by(i.c.room, i.c.start))
    if room is not None:
        query = query.where(i.c.room == room)
    out: dict[str, list[Span]] = {}
    async with engine.connect() as conn:
        for name, state, s, e in (await conn.execute(query)).all():
            out.setdefault(name, []).append((state, s, e))
    return out


def weeks(now: float, count: int) -> list[date]:
    """The Mondays (UTC) of the last `count` weeks, oldest first; the last is this week's."""
    today = datetime.fromtimestamp(now, UTC).date()
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(count - 1, -1, -1)]


async def lessons_per_week(engine: AsyncEngine, site: str, room: str | None, now: float,
                           count: int = 4) -> tuple[list[date], dict[str, list[int]]]:
    mondays = weeks(now, count)
    first = datetime(mondays[0].year, mondays[0].month, mondays[0].day, tzinfo=UTC).timestamp()
    lesson = t.lessons
    query = select(lesson.c.room, lesson.c.started).where(lesson.c.site == site, lesson.c.started >= first)
    if room is not None:
        query = query.where(lesson.c.room == room)
    out: dict[str, list[int]] = {}
    async with engine.connect() as conn:
        for name, started in (await conn.execute(query)).all():
            index = (datetime.fromtimestamp(started, UTC).date() - mondays[0]).days // 7
            if 0 <= index < count:
                out.setdefault(name, [0] * count)[index] += 1
    return mondays, out
