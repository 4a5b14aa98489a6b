"""One school: its rooms with state, uptime over 7 and 30 days and lessons per week, every
device (kind, model, state, last seen) and the school's open alerts."""

from __future__ import annotations

import time
from html import escape
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import queries, room_stats, schools
from classroomd.central import schema as t
from classroomd.central.accounts import Account
from classroomd.central.fleet_view import STATES
from classroomd.central.pages import ago, html, language, shell
from classroomd.central.pages import t as label

WEEKS = 4


def percent(value: float | None) -> str:
    return f'<td data-v>{"–" if value is None else f"{value:.1f} %"}</td>'


def _state(presence: str | None) -> str:
    return presence if presence in STATES else "unknown"


async def _devices(engine: AsyncEngine, site: str) -> list[dict[str, Any]]:
    d = t.devices
    query = (select(d.c.room, d.c.id, d.c.kind, d.c.model, d.c.availability, d.c.last_seen)
             .where(d.c.site == site, d.c.gone.is_(False)).order_by(d.c.room, d.c.id))
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings().all()]


def week_heads(mondays: list[Any]) -> str:
    return "".join(f'<th data-v title="{m.isoformat()}">{m.isoformat()[5:]}</th>' for m in mondays)


def week_cells(counts: list[int] | None) -> str:
    return "".join(f"<td data-v>{n}</td>" for n in (counts or [0] * WEEKS))


async def school_page(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    site = request.match_info["site"]
    rooms = await queries.classrooms(engine, site)
    if not rooms:
        raise web.HTTPNotFound()
    school = (await schools.registry(engine)).get(site)
    now = time.time()
    spans = await room_stats.room_spans(engine, site, None, now - 30 * 86400)
    mondays, lessons = await room_stats.lessons_per_week(engine, site, None, now, WEEKS)
    district = f"<span data-v>{escape(school.district)}</span>" if school and school.district \
        else label(lang, "unassigned")
    parts = [f'<p><b data-v>{escape(school.name if school else site)}</b> · <span data-v>{escape(site)}</span>'
             f" · {label(lang, 'district')}: {district}</p>"]

    head = "".join(f"<th rowspan=2>{label(lang, k)}</th>" for k in ("room", "state", "last_seen", "uptime_7",
                                                                     "uptime_30"))
    lines = []
    for info in rooms:
        href = f"/rooms/{quote(site, safe='')}/{quote(info['room'], safe='')}"
        spans_of = spans.get(info["room"], [])
        lines.append(f'<tr><td><a href="{escape(href)}" data-v>{escape(info["room"])}</a></td>'
                     f'<td class={_state(info["presence"])}>{label(lang, _state(info["presence"]))}</td>'
                     f'<td>{ago(lang, info["last_seen"], now)}</td>'
                     f"{percent(room_stats.uptime(spans_of, now - 7 * 86400, now))}"
                     f"{percent(room_stats.uptime(spans_of, now - 30 * 86400, now))}"
                     f"{week_cells(lessons.get(info['room']))}</tr>")
    parts.append(f'<h2>{label(lang, "rooms")}</h2><table><tr>{head}<th colspan={WEEKS}>'
                 f'{label(lang, "lessons_week")}</th></tr><tr>{week_heads(mondays)}</tr>{"".join(lines)}</table>')

    dev_head = "".join(f"<th>{label(lang, k)}</th>" for k in ("room", "device", "kind", "model", "state",
                                                              "last_seen"))
    dev_lines = "".join(
        f'<tr><td data-v>{escape(d["room"])}</td><td data-v>{escape(d["id"])}</td>'
        f'<td data-v>{escape(d["kind"] or "")}</td><td data-v>{escape(d["model"] or "")}</td>'
        f'<td>{label(lang, _state(d["availability"]))}</td><td>{ago(lang, queries.iso(d["last_seen"]), now)}</td>'
        "</tr>" for d in await _devices(engine, site))
    parts.append(f'<h2>{label(lang, "nav_inventory")}</h2><table><tr>{dev_head}</tr>{dev_lines}</table>')

    open_alerts = await queries.alerts(engine, True, site, 200)
    alert_lines = "".join(
        f'<li id="alert-{a["id"]}">{label(lang, _severity(a))} <span data-v>{escape(a["room"])} · '
        f'{escape(_said(lang, a))}</span> · {ago(lang, a["raised"], now)}</li>' for a in open_alerts)
    parts.append(f'<h2>{label(lang, "open_alerts")}</h2>'
                 + (f"<ul>{alert_lines}</ul>" if alert_lines else f'<p>{label(lang, "none")}</p>'))
    return html(shell(lang, "school", "".join(parts), account))


def _severity(alert: dict[str, Any]) -> str:
    return str(alert["severity"]) if alert["severity"] in ("info", "warning", "critical") else "warning"


def _said(lang: str, alert: dict[str, Any]) -> str:
    message = alert["message"]
    return str(message.get(lang) or message.get("en") or alert["code"]) if isinstance(message, dict) \
        else str(alert["code"])
