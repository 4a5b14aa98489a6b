"""Linked lessons over HTTP: the board's "linked with …" line, the status, and the hub's acceptance of offers.

What a linked room shows is always served by its own agent (`/media/{id}` of its own store, via
`/board/current`); these endpoints only tell about the link.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from classroomd.core.vocabulary import RequestError
from classroomd.services.linked_lesson import LinkedLesson
from classroomd.web.context import context, require_token
from classroomd.web.errors import http_error


def linked_lesson(request: web.Request) -> LinkedLesson | None:
    # The agent has it; WebContext does not promise it (a board-only test host has none).
    found = getattr(context(request), "linked", None)
    return found if isinstance(found, LinkedLesson) else None


async def status(request: web.Request) -> web.Response:
    linked = linked_lesson(request)
    if linked is None:
        return web.json_response({"role": None, "rooms": [], "line": None, "offers": []})
    return web.json_response(linked.status())


def _hub_and_room(request: web.Request) -> tuple[LinkedLesson, str]:
    """The hub's linked lesson (token required) and the `{site}/{room}` an offer came from."""
    require_token(request)
    linked = linked_lesson(request)
    if linked is None:
        raise http_error(404, "not_linked", "linked lessons are not running in this agent")
    return linked, f"{request.match_info['site']}/{request.match_info['room']}"


async def accept(request: web.Request) -> web.Response:
    linked, room = _hub_and_room(request)
    try:
        return web.json_response(await linked.accept(room))
    except RequestError as exc:
        raise http_error(409, exc.code, exc.message) from None


async def dismiss(request: web.Request) -> web.Response:
    linked, room = _hub_and_room(request)
    try:
        return web.json_response(linked.dismiss(room))
    except RequestError as exc:
        raise http_error(409, exc.code, exc.message) from None


async def line_script(_request: web.Request) -> web.Response:
    text = (resources.files("classroomd.web") / "static" / "linked.js").read_text(encoding="utf-8")
    return web.Response(text=text, content_type="text/javascript", headers={"Cache-Control": "no-cache"})


async def live(request: web.Request) -> web.StreamResponse:
    """The hub's microscope as MJPEG, from the newest frame that crossed the link (the board's `<img>`)."""
    linked = linked_lesson(request)
    room = f"{request.match_info['site']}/{request.match_info['room']}"
    receiver = linked.live if linked is not None else None
    if receiver is None or (receiver.room, receiver.device) != (room, request.match_info["device"]):
        raise http_error(404, "not_live", f"no live view of {request.match_info['device']} from {room} now")
    response = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    async for jpeg in receiver.stream():
        if linked is None or linked.live is not receiver:
            break  # the hub's board moved on: the <img> is replaced anyway
        await response.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                             + jpeg + b"\r\n")
    return response


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/linked", status),
        web.post("/api/v1/linked/offers/{site}/{room}/accept", accept),
        web.post("/api/v1/linked/offers/{site}/{room}/dismiss", dismiss),
        web.get("/linked/line.js", line_script),
        web.get("/linked/live/{site}/{room}/{device}", live),
    ]
