"""The lesson board: the full-screen page on the panel, its WebSocket, and the lesson gallery.

Everything the page needs is served from the package (no CDN), so the board
works with the school's internet down. The page reads `?panel=` and `?lang=`;
a panel's configured language is used when the URL names none.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
from datetime import tzinfo
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from classroomd.core import clock, limits
from classroomd.core.vocabulary import Kind
from classroomd.services.board_hub import PANEL_ID_RE, BoardConnection
from classroomd.web.context import WebContext, context
from classroomd.web.errors import http_error

log = logging.getLogger("classroomd.board")

LANGUAGES = ("kk", "ru", "en")
STATIC_TYPES = {"board.js": "text/javascript", "board.css": "text/css", "board.html": "text/html"}
FLAG_RE = re.compile(r"^[a-z]{2}\.svg$")


def _static(name: str) -> str:
    return (resources.files("classroomd.web") / "static" / name).read_text(encoding="utf-8")


def _panel(request: web.Request) -> str:
    panel = request.query.get("panel", "")
    if not PANEL_ID_RE.match(panel):
        raise http_error(400, "invalid_panel", "add ?panel=<panel id> to the board's URL, e.g. /board?panel=panel-1")
    return panel


def _zone(ctx: WebContext) -> tzinfo | None:
    """The school's zone from `[agent] timezone`, when the context is the agent (WebContext does not promise it)."""
    name = getattr(getattr(getattr(ctx, "config", None), "agent", None), "timezone", None)
    try:
        return clock.zone(name if isinstance(name, str) else None)
    except ValueError:  # the config check refuses it; a context built otherwise falls back to the system's
        return None


def _for_people(message: dict[str, Any], tz: tzinfo | None) -> dict[str, Any]:
    """A board message with the capture's time as people read it; the hub and the wire keep ISO UTC."""
    content = message.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("created"), str):
        return message
    return {**message, "content": {**content, "when": clock.for_everyone(content["created"], tz)}}


def _language(request: web.Request, ctx: WebContext, panel: str) -> str:
    wanted = request.query.get("lang", "")
    if wanted in LANGUAGES:
        return wanted
    device = ctx.device(panel)
    configured = getattr(getattr(device, "options", None), "language", None)
    if configured in LANGUAGES:
        return str(configured)
    # The agent's own first language, when the context is the agent (WebContext does not promise it).
    agent_language = getattr(getattr(getattr(ctx, "config", None), "agent", None), "language", None)
    return str(agent_language) if agent_language in LANGUAGES else "kk"


async def board_page(request: web.Request) -> web.Response:
    ctx = context(request)
    panel = _panel(request)
    device = ctx.device(panel)
    page = (_static("board.html")
            .replace("{{panel}}", html.escape(panel))
            .replace("{{lang}}", _language(request, ctx, panel))
            .replace("{{name}}", html.escape(device.name if device is not None else panel)))
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_TYPES or name == "board.html":
        raise http_error(404, "not_found", f"no board file {name}")
    return web.Response(text=_static(name), content_type=STATIC_TYPES[name],
                        headers={"Cache-Control": "no-cache"})


async def flag(request: web.Request) -> web.Response:
    """A country's flag as SVG (flag-icons, MIT): emoji flags are empty boxes without a colour-emoji font."""
    name = request.match_info["name"].lower()
    file = resources.files("classroomd.web") / "static" / "flags" / name
    if not FLAG_RE.match(name) or not file.is_file():
        raise http_error(404, "not_found", f"no flag {name}")
    return web.Response(body=file.read_bytes(), content_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})


async def current(request: web.Request) -> web.Response:
    panel = _panel(request)
    hub = context(request).board
    return web.json_response({"panel": panel, "content": hub.current(panel), "boards": hub.connected(panel)})


async def board_socket(request: web.Request) -> web.StreamResponse:
    panel = _panel(request)
    ctx = context(request)
    hub, tz = ctx.board, _zone(ctx)
    # A larger message closes the socket with 1009 (message too big); the page reconnects.
    ws = web.WebSocketResponse(heartbeat=15, max_msg_size=limits.MAX_WS_MESSAGE_BYTES)
    await ws.prepare(request)
    connection = hub.attach(panel)
    writer = asyncio.create_task(_write(ws, connection, tz), name=f"board-{panel}")
    try:
        await ws.send_json(_for_people({"type": "hello", "panel": panel, "content": hub.current(panel)}, tz))
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            # A message that is not JSON, or nests deeper than the limit, is ignored like any unknown one.
            with contextlib.suppress(ValueError):
                data = limits.loads(message.data)
                if isinstance(data, dict):
                    hub.received(connection, data)
    finally:
        hub.detach(connection)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
    return ws


async def _write(ws: web.WebSocketResponse, connection: BoardConnection, tz: tzinfo | None) -> None:
    while not ws.closed:
        message = await connection.outgoing.get()
        try:
            await ws.send_json(_for_people(message, tz))
        except (ConnectionError, RuntimeError):
            return


# --- the lesson gallery ---------------------------------------------------------------------------
GALLERY_TEXT = {
    "kk": {"title": "Сабақ", "media": "Суреттер", "prints": "3D басып шығару", "none": "Әзірге ештеңе жоқ",
           "scale": "масштаб", "finished": "дайын", "failed": "сәтсіз", "cancelled": "тоқтатылды",
           "interrupted": "үзілді", "printing": "басылуда", "queued": "кезекте", "paused": "кідіртілді"},
    "ru": {"title": "Урок", "media": "Снимки", "prints": "3D-печать", "none": "Пока ничего нет",
           "scale": "масштаб", "finished": "готово", "failed": "ошибка", "cancelled": "отменено",
           "interrupted": "прервано", "printing": "печатается", "queued": "в очереди", "paused": "на паузе"},
    "en": {"title": "Lesson", "media": "Captures", "prints": "3D prints", "none": "Nothing yet",
           "scale": "scale", "finished": "finished", "failed": "failed", "cancelled": "cancelled",
           "interrupted": "interrupted", "printing": "printing", "queued": "queued", "paused": "paused"},
}


async def _lesson_prints(ctx: WebContext, lesson_id: str) -> list[dict[str, Any]]:
    """Print jobs of the lesson, from each printer's `history` (printers that cannot answer are skipped).

    The printer filters by lesson itself: asking for its recent jobs and filtering here would miss a
    lesson's prints once other lessons had printed more than a page of jobs since.
    """
    jobs: list[dict[str, Any]] = []
    for device in ctx.all_devices():
        if device.kind != Kind.PRINTER or "history" not in device.actions():
            continue
        try:
            reply = await asyncio.wait_for(device.request("history", {"lesson_id": lesson_id, "limit": 500}), 2.0)
        except Exception as exc:
            log.info("no print history from %s for the gallery: %s", device.id, exc)
            continue
        for job in reply.get("jobs", []) or []:
            if isinstance(job, dict) and job.get("lesson_id") == lesson_id:
                jobs.append({**job, "printer": device.name})
    return jobs


def _job_state(text: dict[str, str], job: dict[str, Any]) -> str:
    state = str(job.get("outcome") or job.get("state") or "")
    return text.get(state, state)


async def lesson_data(ctx: WebContext, lesson_id: str) -> dict[str, Any]:
    items = ctx.media.by_lesson(lesson_id)
    lesson = ctx.lesson
    return {
        "id": lesson_id,
        "current": bool(lesson and lesson.id == lesson_id),
        "lesson": lesson.as_dict() if lesson and lesson.id == lesson_id else None,
        "media": [{"id": m.id, "url": m.url, "thumb_url": m.thumb_url, "caption": m.meta.get("caption", ""),
                   "created": m.meta.get("created"), "device": m.meta.get("device"),
                   "um_per_px": m.meta.get("um_per_px"), "tags": m.meta.get("tags", [])} for m in items],
        "prints": await _lesson_prints(ctx, lesson_id),
    }


async def lesson_json(request: web.Request) -> web.Response:
    return web.json_response(await lesson_data(context(request), request.match_info["lesson_id"]))


async def lesson_page(request: web.Request) -> web.Response:
    lang = request.query.get("lang", "kk")
    if lang not in LANGUAGES:
        lang = "kk"
    t = GALLERY_TEXT[lang]
    ctx = context(request)
    tz = _zone(ctx)
    data = await lesson_data(ctx, request.match_info["lesson_id"])
    e = html.escape

    def when(stamp: object) -> str:
        # The reader's date in the school's zone; the ISO original stays in the machine-readable attribute.
        text = clock.date_time_text(stamp, lang, tz) if isinstance(stamp, str) else ""
        return f' <time datetime="{e(str(stamp))}">{e(text)}</time>' if text else ""

    lesson = data["lesson"] or {}
    heading = " · ".join(e(str(x)) for x in (lesson.get("subject"), lesson.get("teacher")) if x) or e(data["id"])
    cards = []
    for m in data["media"]:
        caption = e(str(m["caption"] or m["id"]))
        scale = f' <small>({t["scale"]}: {m["um_per_px"]:.3g} µm/px)</small>' if m["um_per_px"] else ""
        cards.append(f'<figure class="shot"><a href="{e(m["url"])}"><img loading="lazy" src="{e(m["thumb_url"])}"'
                     f' alt="{caption}"></a><figcaption>{caption}{scale}{when(m["created"])}</figcaption></figure>')
    prints = [f'<li>{e(str(j.get("file_name") or j.get("id", "")))} — {e(_job_state(t, j))}'
              f' <small>{e(str(j.get("printer", "")))}{when(j.get("ended") or j.get("started"))}</small></li>'
              for j in data["prints"]]
    body = (f'<h1>{t["title"]}: {heading}</h1>{when(lesson.get("started"))}<h2>{t["media"]}</h2>'
            f'<div class="gallery">{"".join(cards) or "<p>" + t["none"] + "</p>"}</div>'
            f'<h2>{t["prints"]}</h2><ul>{"".join(prints) or "<li>" + t["none"] + "</li>"}</ul>')
    page = (f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{t["title"]} {e(data["id"])}</title><link rel="stylesheet" href="/board/static/board.css">'
            f'</head><body class="lesson-page">{body}</body></html>')
    return web.Response(text=page, content_type="text/html")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/board", board_page),
        web.get("/board/ws", board_socket),
        web.get("/board/current", current),
        web.get("/board/static/{name}", static_file),
        web.get("/board/flags/{name}", flag),
        web.get("/lessons/{lesson_id}", lesson_page),
        web.get("/api/v1/lessons/{lesson_id}", lesson_json),
    ]
