"""One classroom: its devices, availability as an SVG timeline of stored intervals, usage per
day, the last health report and its alerts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import i18n, queries, room_stats
from classroomd.central import schema as t
from classroomd.central.accounts import Account
from classroomd.central.pages import html, language, shell
from classroomd.central.pages import t as label
from classroomd.central.school_page import WEEKS, week_cells, week_heads

COLOURS = {"online": "#2e9d46", "offline": "#d62f2f", "stale": "#e5a000", "unknown": "#9aa0a6"}
WIDTH, HEIGHT = 600, 14


async def _intervals(engine: AsyncEngine, site: str, room: str, start: float) -> dict[str, list[tuple[str, float,
                                                                                                    float | None]]]:
    i = t.intervals
    query = (select(i.c.device, i.c.state, i.c.start, i.c.end)
             .where(i.c.site == site, i.c.room == room, (i.c.end.is_(None)) | (i.c.end > start))
             .order_by(i.c.device, i.c.start))
    out: dict[str, list[tuple[str, float, float | None]]] = {}
    async with engine.connect() as conn:
        for device, state, s, e in (await conn.execute(query)).all():
            out.setdefault(device, []).append((state, s, e))
    return out


def timeline(lang: str, spans: list[tuple[str, float, float | None]], start: float, end: float) -> tuple[str, float]:
    """An SVG bar of the window, one rectangle per interval, and the share of known time online.

    Time before the first interval is left blank (not counted): central had not seen it yet.
    """
    rects: list[str] = []
    known = online = 0.0
    scale = WIDTH / (end - start)
    for state, s, e in spans:
        a, b = max(s, start), min(e if e is not None else end, end)
        if b <= a:
            continue
        known += b - a
        if state == "online":
            online += b - a
        state = state if state in COLOURS else "unknown"
        rects.append(f'<rect x="{(a - start) * scale:.1f}" width="{max((b - a) * scale, 0.5):.1f}" '
                     f'height="{HEIGHT}" fill="{COLOURS[state]}"><title>{escape(i18n.text(lang, state))}'
                     "</title></rect>")
    svg = (f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">'
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#f1f1f1"/>{"".join(rects)}</svg>')
    return svg, (online / known * 100 if known else 0.0)


async def _usage(engine: AsyncEngine, site: str, room: str, days: int) -> dict[str, dict[str, float]]:
    u = t.usage_daily
    first = (datetime.now(UTC).date() - timedelta(days=days - 1)).isoformat()
    query = select(u.c.device, u.c.day, u.c.active_min).where(u.c.site == site, u.c.room == room, u.c.day >= first)
    out: dict[str, dict[str, float]] = {}
    async with engine.connect() as conn:
        for device, day, minutes in (await conn.execute(query)).all():
            out.setdefault(device, {})[day] = minutes
    return out


def _usage_table(lang: str, usage: dict[str, dict[str, float]], days: int) -> str:
    today = datetime.now(UTC).date()
    dates = [(today - timedelta(days=d)).isoformat() for d in range(days - 1, -1, -1)]
    head = f'<th>{label(lang, "device")}</th>' + "".join(f"<th data-v>{d[5:]}</th>" for d in dates)
    rows = "".join(f"<tr><td data-v>{escape(dev)}</td>" + "".join(
        f'<td data-v>{round(per_day.get(d, 0))} {escape(i18n.text(lang, "min"))}</td>' for d in dates) + "</tr>"
                   for dev, per_day in sorted(usage.items()))
    return f"<table><tr>{head}</tr>{rows}</table>" if rows else f'<p>{label(lang, "none")}</p>'


async def room_page(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    site, room = request.match_info["site"], request.match_info["room"]
    found = await queries.classrooms(engine, site, room)
    if not found:
        raise web.HTTPNotFound()
    info = found[0]
    days = 30 if request.query.get("days") == "30" else 7
    end = time.time()
    start = end - days * 86400
    spans = await _intervals(engine, site, room, start)
    svg, uptime = timeline(lang, spans.get("", []), start, end)
    school_href = f"/schools/{quote(site, safe='')}"
    parts = [f'<p><a href="{escape(school_href)}" data-v>{escape(site)}</a> / <span data-v>{escape(room)}</span>'
             f' · {label(lang, info["presence"])}</p>',
             f'<h2>{label(lang, "availability")} <a href="?days=7" data-v>7</a> / <a href="?days=30" data-v>30</a>'
             f'</h2><p>{svg} <b data-v>{uptime:.1f} %</b></p>']
    rows = []
    for dev in info["devices"]:
        dev_svg, dev_up = timeline(lang, spans.get(dev["id"], []), start, end)
        state = dev["availability"] if dev["availability"] in COLOURS else "unknown"
        rows.append(f'<tr><td data-v>{escape(dev["id"])}</td><td data-v>{escape(dev["kind"] or "")}</td>'
                    f'<td data-v>{escape(dev["name"] or "")}</td><td>{label(lang, state)}</td>'
                    f'<td data-v>{escape(dev["last_seen"] or "")}</td><td>{dev_svg}</td>'
                    f"<td data-v>{dev_up:.1f} %</td></tr>")
    head = "".join(f"<th>{label(lang, k)}</th>" for k in ("device", "kind", "name", "state", "last_seen",
                                                          "availability", "uptime"))
    parts.append(f'<h2>{label(lang, "nav_inventory")}</h2><table><tr>{head}</tr>{"".join(rows)}</table>')
    parts.append(f'<h2>{label(lang, "usage")}</h2>{_usage_table(lang, await _usage(engine, site, room, 7), 7)}')
    mondays, lessons = await room_stats.lessons_per_week(engine, site, room, end, WEEKS)
    parts.append(f'<h2>{label(lang, "lessons_week")}</h2><table><tr>{week_heads(mondays)}</tr>'
                 f"<tr>{week_cells(lessons.get(room))}</tr></table>")
    parts.append(f'<h2>{label(lang, "health")}</h2>{_health(lang, info)}')
    room_alerts = [a for a in await queries.alerts(engine, False, site, 200) if a["room"] == room]
    lines = "".join(_alert_line(lang, a) for a in room_alerts[:50])
    parts.append(f'<h2>{label(lang, "nav_alerts")}</h2><ul>{lines}</ul>' if lines else "")
    return html(shell(lang, "room", "".join(parts), account))


def _alert_line(lang: str, alert: dict[str, Any]) -> str:
    cleared = " · " + label(lang, "cleared") if alert["cleared"] else ""
    return (f'<li>{label(lang, _severity(alert))} <span data-v>{escape(_said(lang, alert))} · '
            f'{escape(alert["raised"] or "")}</span>{cleared}</li>')


def _severity(alert: dict[str, Any]) -> str:
    return str(alert["severity"]) if alert["severity"] in ("info", "warning", "critical") else "warning"


def _said(lang: str, alert: dict[str, Any]) -> str:
    message = alert["message"]
    return str(message.get(lang) or alert["code"]) if isinstance(message, dict) else str(alert["code"])


def _health(lang: str, info: dict[str, Any]) -> str:
    if info["status"] is None:
        return f'<p>{label(lang, "none")}</p>'
    lesson = info["lesson"] or {}
    title = lesson.get("title") or lesson.get("id") or "-" if isinstance(lesson, dict) else "-"
    return (f'<p>{label(lang, "state")}: <span data-v>{escape(str(info["status"]))}</span> · '
            f'{label(lang, "last_seen")}: <span data-v>{escape(info["last_seen"] or "")}</span> · '
            f'{label(lang, "outbox")}: <span data-v>{info["outbox_depth"]}</span> · '
            f'{label(lang, "lesson")}: <span data-v>{escape(str(title))}</span></p>')
