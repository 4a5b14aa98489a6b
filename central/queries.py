"""Reads of the API, straight from the database, so any number of API processes can serve."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import schema as t


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


async def classrooms(engine: AsyncEngine, site: str | None = None, room: str | None = None) -> list[dict[str, Any]]:
    c, d = t.classrooms, t.devices
    rooms_q = select(c).order_by(c.c.site, c.c.room)
    devs_q = select(d).where(d.c.gone.is_(False)).order_by(d.c.site, d.c.room, d.c.id)
    if site is not None:
        rooms_q, devs_q = rooms_q.where(c.c.site == site), devs_q.where(d.c.site == site)
    if room is not None:
        rooms_q, devs_q = rooms_q.where(c.c.room == room), devs_q.where(d.c.room == room)
    async with engine.connect() as conn:
        rooms = (await conn.execute(rooms_q)).mappings().all()
        devs = (await conn.execute(devs_q)).mappings().all()
    by_room: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in devs:
        by_room.setdefault((r["site"], r["room"]), []).append({
            "id": r["id"], "kind": r["kind"], "name": r["name"], "status": r["status"],
            "availability": r["availability"], "since": iso(r["since"]), "last_seen": iso(r["last_seen"])})
    now = time.time()
    out = []
    for r in rooms:
        health = _json(r["health"]) or {}
        out.append({
            "site": r["site"], "room": r["room"], "presence": r["presence"], "since": iso(r["since"]),
            "last_seen": iso(r["last_seen"]),
            # The last known state stays visible while a school is dark; its age says how old.
            "age_s": round(now - r["last_seen"], 1) if r["last_seen"] is not None else None,
            "session": r["session"], "status": health.get("status"), "outbox_depth": health.get("outbox_depth"),
            "lesson": _json(r["lesson"]), "devices": by_room.get((r["site"], r["room"]), [])})
    return out


async def sites(engine: AsyncEngine) -> list[dict[str, Any]]:
    """One line per school: how many of its classrooms are in each state, and its open alerts."""
    c, a = t.classrooms, t.alerts
    async with engine.connect() as conn:
        counts = (await conn.execute(select(c.c.site, c.c.presence, func.count(), func.max(c.c.last_seen))
                                     .group_by(c.c.site, c.c.presence))).all()
        open_alerts = (await conn.execute(select(a.c.site, func.count()).where(a.c.cleared.is_(None))
                                          .group_by(a.c.site))).all()
    out: dict[str, dict[str, Any]] = {}
    for site, presence, n, last_seen in counts:
        entry = out.setdefault(site, {"site": site, "classrooms": 0, "presence": {}, "last_seen": None,
                                      "active_alerts": 0})
        entry["classrooms"] += n
        entry["presence"][presence] = n
        if last_seen is not None and (entry["last_seen"] is None or last_seen > entry["last_seen"]):
            entry["last_seen"] = last_seen
    for site, n in open_alerts:
        if site in out:
            out[site]["active_alerts"] = n
    return [{**e, "last_seen": iso(e["last_seen"])} for _, e in sorted(out.items())]


async def health_samples(engine: AsyncEngine, site: str, room: str, start: float, end: float,
                         limit: int) -> list[dict[str, Any]]:
    h = t.health
    query = (select(h).where(h.c.site == site, h.c.room == room, h.c.received >= start, h.c.received < end)
             .order_by(h.c.received, h.c.pk).limit(limit))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [{"received": iso(r["received"]), "ts": r["ts"], "session": r["session"], "seq": r["seq"],
             "status": r["status"], "uptime_s": r["uptime_s"], "outbox_depth": r["outbox_depth"],
             "outbox_dropped": r["outbox_dropped"], "replayed": bool(r["replayed"]),
             "devices": _json(r["devices"])} for r in rows]


async def events(engine: AsyncEngine, site: str | None, room: str | None, device: str | None, start: float,
                 end: float, limit: int) -> list[dict[str, Any]]:
    e = t.events
    query = select(e).where(e.c.received >= start, e.c.received < end).order_by(e.c.received.desc(),
                                                                                e.c.pk.desc()).limit(limit)
    for column, value in (("site", site), ("room", room), ("device", device)):
        if value is not None:
            query = query.where(e.c[column] == value)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [{"site": r["site"], "room": r["room"], "device": r["device"], "name": r["name"], "msg_id": r["msg_id"],
             "received": iso(r["received"]), "ts": r["ts"], "replayed": bool(r["replayed"]),
             "payload": _json(r["payload"])} for r in rows]


def _alert_out(r: Any) -> dict[str, Any]:
    return {"id": r["pk"], "key": r["key"], "source": r["source"], "site": r["site"], "room": r["room"],
            "device": r["device"] or None, "code": r["code"], "severity": r["severity"],
            "message": _json(r["message"]), "raised": iso(r["raised"]), "cleared": iso(r["cleared"]),
            "active": r["cleared"] is None,
            "ack": ({"by": r["acked_by"], "at": iso(r["acked_at"]), "note": r["ack_note"]}
                    if r["acked_at"] is not None else None)}


async def alerts(engine: AsyncEngine, active_only: bool, site: str | None, limit: int) -> list[dict[str, Any]]:
    a = t.alerts
    query = select(a).order_by(a.c.raised.desc()).limit(limit)
    if active_only:
        query = query.where(a.c.cleared.is_(None))
    if site:
        query = query.where(a.c.site == site)
    async with engine.connect() as conn:
        return [_alert_out(r) for r in (await conn.execute(query)).mappings()]


async def alert_history(engine: AsyncEngine, pk: int) -> list[dict[str, Any]]:
    log = t.alert_log
    async with engine.connect() as conn:
        rows = (await conn.execute(select(log).where(log.c.alert == pk).order_by(log.c.at, log.c.pk))).mappings()
        return [{"at": iso(r["at"]), "what": r["what"], "detail": r["detail"]} for r in rows]


async def ack_alert(engine: AsyncEngine, pk: int, by: str, note: str | None) -> dict[str, Any] | None:
    a = t.alerts
    now = time.time()
    async with engine.begin() as conn:
        result = await conn.execute(update(a).where(a.c.pk == pk).values(acked_by=by, acked_at=now, ack_note=note))
        if result.rowcount == 0:
            return None
        await conn.execute(t.alert_log.insert().values(alert=pk, at=now, what="acked",
                                                       detail=json.dumps({"by": by, "note": note},
                                                                         ensure_ascii=False)))
        row = (await conn.execute(select(a).where(a.c.pk == pk))).mappings().one()
    return _alert_out(row)


INVENTORY_FIELDS = ("site", "room", "id", "kind", "name", "vendor", "model", "serial", "status", "availability",
                    "first_seen", "last_seen", "gone")


async def inventory(engine: AsyncEngine, include_gone: bool) -> list[dict[str, Any]]:
    d = t.devices
    query = select(d).order_by(d.c.site, d.c.room, d.c.id)
    if not include_gone:
        query = query.where(d.c.gone.is_(False))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [{k: (iso(r[k]) if k in ("first_seen", "last_seen") else (bool(r[k]) if k == "gone" else r[k]))
             for k in INVENTORY_FIELDS} for r in rows]


async def inventory_history(engine: AsyncEngine, site: str | None, room: str | None,
                            limit: int) -> list[dict[str, Any]]:
    log = t.inventory_log
    query = select(log).order_by(log.c.at.desc(), log.c.pk.desc()).limit(limit)
    if site:
        query = query.where(log.c.site == site)
    if room:
        query = query.where(log.c.room == room)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [{"site": r["site"], "room": r["room"], "device": r["device"], "at": iso(r["at"]), "what": r["what"],
             "detail": _json(r["detail"])} for r in rows]


async def usage(engine: AsyncEngine, day_from: str, day_to: str) -> list[dict[str, Any]]:
    u = t.usage_daily
    query = (select(u.c.site, u.c.room, u.c.device, func.sum(u.c.active_min), func.sum(u.c.lesson_active_min),
                    func.count())
             .where(and_(u.c.day >= day_from, u.c.day <= day_to))
             .group_by(u.c.site, u.c.room, u.c.device).order_by(u.c.site, u.c.room, u.c.device))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        days = (await conn.execute(select(u).where(and_(u.c.day >= day_from, u.c.day <= day_to))
                                   .order_by(u.c.day))).mappings().all()
    per_day: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in days:
        per_day.setdefault((r["site"], r["room"], r["device"]), []).append(
            {"day": r["day"], "active_min": round(r["active_min"], 2),
             "lesson_active_min": round(r["lesson_active_min"], 2)})
    return [{"site": s, "room": rm, "device": dev, "active_min": round(a, 2), "lesson_active_min": round(la, 2),
             "days_used": n, "days": per_day.get((s, rm, dev), [])} for s, rm, dev, a, la, n in rows]


async def availability(engine: AsyncEngine, site: str, room: str, device: str, start: float,
                       end: float) -> dict[str, float]:
    """Seconds in each state over [start, end): a query over intervals, not a scan of samples."""
    i = t.intervals
    query = select(i.c.state, i.c.start, i.c.end).where(
        i.c.site == site, i.c.room == room, i.c.device == device, i.c.start < end,
        (i.c.end.is_(None)) | (i.c.end > start))
    totals: dict[str, float] = {}
    now = time.time()
    async with engine.connect() as conn:
        for state, s, e in (await conn.execute(query)).all():
            span = min(e if e is not None else now, end) - max(s, start)
            if span > 0:
                totals[state] = totals.get(state, 0.0) + span
    return totals
