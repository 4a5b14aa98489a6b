"""Writes of the ingester: one transaction per batch, the same statements on both engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from classroomd.central import schema as t
from classroomd.central.batch import AlertChange, Batch, IntervalChange, Row


def _insert(conn: AsyncConnection, table: Table) -> Any:
    # Both dialects spell ON CONFLICT the same way in SQLAlchemy; only the import differs.
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def _upsert(conn: AsyncConnection, table: Table, rows: list[Row]) -> None:
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    # Rows of one statement must share columns; group them by their key set.
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for columns, group in groups.items():
        stmt = _insert(conn, table)
        changed = {c: stmt.excluded[c] for c in columns if c not in keys and c != "first_seen"}
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=changed) if changed \
            else stmt.on_conflict_do_nothing(index_elements=keys)
        await conn.execute(stmt, group)


async def _insert_new(conn: AsyncConnection, table: Table, rows: list[Row], unique: list[str]) -> None:
    if rows:
        stmt: Insert = _insert(conn, table).on_conflict_do_nothing(index_elements=unique)
        await conn.execute(stmt, rows)


async def _interval(conn: AsyncConnection, change: IntervalChange) -> None:
    i = t.intervals
    subject = and_(i.c.site == change.site, i.c.room == change.room, i.c.device == change.device,
                   i.c.end.is_(None))
    await conn.execute(update(i).where(subject).values(end=change.at))
    await conn.execute(i.insert().values(site=change.site, room=change.room, device=change.device,
                                         state=change.state, start=change.at))


async def _alert(conn: AsyncConnection, change: AlertChange) -> None:
    a = t.alerts
    if change.what == "raised":
        result = await conn.execute(a.insert().values(key=change.key, raised=change.at, **change.row))
        pk = result.inserted_primary_key[0] if result.inserted_primary_key else None
        await conn.execute(t.alert_log.insert().values(alert=pk, at=change.at, what="raised"))
        return
    open_rows = (await conn.execute(
        select(a.c.pk).where(a.c.key == change.key, a.c.cleared.is_(None)))).scalars().all()
    for pk in open_rows:
        await conn.execute(update(a).where(a.c.pk == pk).values(cleared=change.at))
        await conn.execute(t.alert_log.insert().values(alert=pk, at=change.at, what="cleared",
                                                       detail=change.row.get("detail")))


async def _usage(conn: AsyncConnection, batch: Batch) -> None:
    u, ul = t.usage_daily, t.usage_lessons
    if batch.usage_daily:
        rows = [dict(site=k[0], room=k[1], device=k[2], day=k[3], active_min=v[0], lesson_active_min=v[1])
                for k, v in batch.usage_daily.items()]
        stmt = _insert(conn, u)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site", "room", "device", "day"],
            set_={"active_min": u.c.active_min + stmt.excluded.active_min,
                  "lesson_active_min": u.c.lesson_active_min + stmt.excluded.lesson_active_min})
        await conn.execute(stmt, rows)
    if batch.usage_lessons:
        rows = [dict(site=k[0], room=k[1], device=k[2], lesson=k[3], active_min=v)
                for k, v in batch.usage_lessons.items()]
        stmt = _insert(conn, ul)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site", "room", "device", "lesson"],
            set_={"active_min": ul.c.active_min + stmt.excluded.active_min})
        await conn.execute(stmt, rows)


async def commit(engine: AsyncEngine, batch: Batch) -> None:
    async with engine.begin() as conn:
        await _upsert(conn, t.classrooms, list(batch.classrooms.values()))
        await _upsert(conn, t.devices, list(batch.devices.values()))
        await _insert_new(conn, t.events, batch.events, ["site", "room", "msg_id"])
        await _insert_new(conn, t.health, batch.health, ["site", "room", "session", "seq"])
        for change in batch.intervals:
            await _interval(conn, change)
        for alert in batch.alerts:
            await _alert(conn, alert)
        if batch.inventory_log:
            await conn.execute(t.inventory_log.insert(), batch.inventory_log)
        await _usage(conn, batch)
        await _insert_new(conn, t.lessons, batch.lessons, ["site", "room", "lesson"])
