"""The teacher's remote at `/`: one small page over the requests the devices and the agent already answer.

Nothing here runs an action itself: a tap becomes `target.request(action, args)`, the same call an MQTT
request makes, so the remote, the CLI and the bus can never disagree about what "print" means.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from importlib import resources
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from classroomd.core.vocabulary import Kind, RequestError
from classroomd.web import board, linked, pin, uploads
from classroomd.web.context import WebContext, context

log = logging.getLogger("classroomd.remote")

STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
PAGES = ("remote", "engineer")
REQUEST_TIMEOUT_S = 120.0  # as the MQTT router's: a print's first heat-up answers within it

# What a teacher's PIN allows; anything else (reconnect a printer, rescan) is the engineer's.
TEACHER_ACTIONS: dict[str, frozenset[str]] = {
    "agent": frozenset({"lesson_start", "lesson_end", "capture_and_show",
                        "linked_offer", "linked_accept", "linked_dismiss"}),
    str(Kind.MICROSCOPE): frozenset({"capture", "set"}),
    str(Kind.PANEL): frozenset({"power", "input", "volume", "mute", "show", "get"}),
    str(Kind.PRINTER): frozenset({"print", "start_next", "pause", "resume", "cancel", "history", "queue"}),
    str(Kind.GLOBE): frozenset({"country"}),
    str(Kind.TABLET): frozenset({"attach", "detach", "clear_ink"}),
}


class _Answers(Protocol):
    async def request(self, name: str, args: Mapping[str, Any]) -> Mapping[str, Any]: ...


@runtime_checkable
class _Targets(Protocol):
    """The agent resolves `agent` and device ids as the MQTT router does; a bare WebContext only devices."""

    def target(self, target_id: str) -> _Answers | None: ...


def static_text(name: str) -> str:
    return (resources.files("classroomd.web") / "static" / name).read_text(encoding="utf-8")


def resolve(ctx: WebContext, target_id: str) -> tuple[_Answers | None, str]:
    found = ctx.target(target_id) if isinstance(ctx, _Targets) else ctx.device(target_id)
    device = ctx.device(target_id)
    return found, ("agent" if target_id == "agent" else str(device.kind) if device is not None else "")


def who(request: web.Request) -> str:
    role = "engineer" if pin.is_engineer(request) else "teacher"
    return f"{role}@{request.remote or '?'}"


async def run_request(ctx: WebContext, target_id: str, action: str, args: Mapping[str, Any]) -> web.Response:
    """One request, answered in the MQTT reply's shape (`status`, `data` or `error`)."""
    target, _kind = resolve(ctx, target_id)
    if target is None:
        return _reply_error(404, "unknown_device", f"no device {target_id!r} in this classroom")
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            data = await target.request(action, args)
    except RequestError as exc:
        return _reply_error(409, exc.code, exc.message, exc.details)
    except TimeoutError:
        return _reply_error(504, "timeout", f"{target_id} did not finish {action!r} within {REQUEST_TIMEOUT_S:g}s")
    except Exception as exc:  # the page must get an answer; the daemon keeps running
        log.exception("request %s/%s from the web failed", target_id, action)
        return _reply_error(500, "internal_error", f"{type(exc).__name__}: {exc}")
    return _json({"status": "ok", "data": dict(data)})


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


def _reply_error(status: int, code: str, message: str, details: Any = None) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return _json({"status": "error", "error": error}, status)


async def _body(request: web.Request) -> dict[str, Any]:
    # read() and not can_read_body: a middleware may have read the body already (aiohttp keeps it).
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": {"code": "invalid_json"}}', content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": {"code": "invalid_json"}}', content_type="application/json")
    return body


# --- handlers ------------------------------------------------------------------------------------------
async def page(request: web.Request) -> web.Response:
    return web.Response(text=static_text("remote.html"), content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    stem, dot, ext = name.rpartition(".")
    if stem not in PAGES or f"{dot}{ext}" not in STATIC_TYPES:
        raise web.HTTPNotFound(text=f"no file {name}")
    return web.Response(text=static_text(name), content_type=STATIC_TYPES[f"{dot}{ext}"],
                        headers={"Cache-Control": "no-cache"})


async def state(request: web.Request) -> web.Response:
    """Everything the remote shows, in one small poll: the lesson and each device's snapshot."""
    ctx = context(request)
    lesson = ctx.lesson
    return _json({
        "lesson": lesson.as_dict() if lesson else None,
        "pin_required": pin.pin_required(ctx),
        "teacher": pin.is_teacher(request),
        "devices": [d.snapshot() for d in ctx.all_devices()],
        "linked": _linked_state(request),
    })


def _linked_state(request: web.Request) -> dict[str, Any] | None:
    """The linked lesson as the remote shows it: the hub's pending offers (each with its tiny thumbnail,
    which came inside the offer: nothing else crosses the link before she accepts), or this room's own offer."""
    lesson = linked.linked_lesson(request)
    if lesson is None or lesson.role is None:
        return None
    status = lesson.status()
    return {"role": status["role"], "hub": status["hub"], "rooms": status["rooms"], "line": status["line"],
            "offers": [{"room": o["room"], "seq": o["seq"], "caption": o["media"].get("caption") or "",
                        "thumb": f"data:image/jpeg;base64,{o['thumb']}" if o.get("thumb") else None}
                       for o in status["offers"]],
            "offer": status["offer"]}


async def gallery(request: web.Request) -> web.Response:
    """The running lesson's captures and prints (the board's lesson data), with each capture's drawings counted."""
    ctx = context(request)
    lesson = ctx.lesson
    if lesson is None:
        return _json({"media": [], "prints": []})
    data = await board.lesson_data(ctx, lesson.id)
    for media in data["media"]:
        item = ctx.media.get(media["id"])
        media["annotations"] = len(item.meta.get("annotations", [])) if item is not None else 0
    return _json(data)


async def enter_pin(request: web.Request) -> web.Response:
    body = await _body(request)
    cookie = pin.check_secret(request, str(body.get("pin", "")), "teacher")
    log.info("classroom PIN accepted from %s", request.remote)
    response = _json({"teacher": True})
    pin.set_cookie(response, pin.TEACHER_COOKIE, cookie)
    return response


async def device_request(request: web.Request) -> web.Response:
    pin.require_teacher(request)
    ctx = context(request)
    target_id, action = request.match_info["target"], request.match_info["action"]
    _target, kind = resolve(ctx, target_id)
    if action not in TEACHER_ACTIONS.get(kind, frozenset()) and not pin.is_engineer(request):
        return _reply_error(403, "engineer_only", f"{action!r} on {target_id} is for the engineer's console")
    args = await _body(request)
    log.info("%s asks %s/%s", who(request), target_id, action, extra={"device": target_id})
    return await run_request(ctx, target_id, action, args)


async def upload(request: web.Request) -> web.StreamResponse:
    """The uploads endpoint itself, entered with the classroom PIN instead of the daemon's token."""
    pin.require_teacher(request)
    headers = {**request.headers, "Authorization": f"Bearer {context(request).token}"}
    return await uploads.upload(request.clone(headers=headers))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/", page),
        web.get("/ui/{name}", static_file),
        web.get("/api/v1/remote/state", state),
        web.get("/api/v1/remote/gallery", gallery),
        web.post("/api/v1/remote/pin", enter_pin),
        web.post("/api/v1/remote/request/{target}/{action}", device_request),
        web.post("/api/v1/remote/upload", upload),
    ]
