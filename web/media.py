"""Captured media over HTTP: originals, thumbnails, sidecars and the lesson listing."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from classroomd.services.media import MediaItem
from classroomd.web.context import context, require_token
from classroomd.web.errors import http_error

ID = "{media_id:[a-z0-9][a-z0-9-]*}"
# A capture never changes once written: browsers and the board may keep it for good.
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def _error(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return http_error(status.status_code, code, message)


def _item(request: web.Request) -> MediaItem:
    media_id = request.match_info["media_id"]
    item = context(request).media.get(media_id)
    if item is None:
        raise _error(web.HTTPNotFound, "unknown_media", f"no media {media_id!r} (it may have been deleted)")
    return item


async def original(request: web.Request) -> web.StreamResponse:
    item = _item(request)
    return web.FileResponse(context(request).media.original_path(item.id),
                            headers={"Content-Type": "image/jpeg", **IMMUTABLE,
                                     "Content-Disposition": f'inline; filename="{item.id}.jpg"'})


async def thumbnail(request: web.Request) -> web.StreamResponse:
    item = _item(request)
    return web.FileResponse(context(request).media.thumbnail_path(item.id),
                            headers={"Content-Type": "image/jpeg", **IMMUTABLE})


async def sidecar(request: web.Request) -> web.Response:
    return web.json_response(_item(request).describe(), dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def delete(request: web.Request) -> web.Response:
    require_token(request)
    item = _item(request)
    context(request).media.delete(item.id)
    return web.json_response({"deleted": item.id})


async def annotate(request: web.Request) -> web.Response:
    """Append vector strokes to a capture's sidecar (the board's drawings on a still)."""
    require_token(request)
    item = _item(request)
    try:
        body: Any = await request.json()
    except ValueError:
        raise _error(web.HTTPBadRequest, "invalid_json", "the body must be JSON") from None
    strokes = body.get("strokes") if isinstance(body, dict) else body
    if not isinstance(strokes, list) or not all(isinstance(s, dict) for s in strokes):
        raise _error(web.HTTPBadRequest, "invalid_arguments", 'expected {"strokes": [{…}, …]}')
    context(request).media.add_annotations(item.id, strokes)
    return web.json_response({"id": item.id, "annotations": len(item.meta.get("annotations", []))})


async def listing(request: web.Request) -> web.Response:
    """`?lesson=ID` for one lesson's media, `?sequence=ID` for a time-lapse; else the newest `limit`."""
    media = context(request).media
    lesson = request.query.get("lesson")
    sequence = request.query.get("sequence")
    try:
        limit = int(request.query.get("limit", "200"))
    except ValueError:
        raise _error(web.HTTPBadRequest, "invalid_arguments", "limit must be a whole number") from None
    if limit <= 0:
        raise _error(web.HTTPBadRequest, "invalid_arguments", "limit must be positive")
    if sequence:
        items = media.by_sequence(sequence)
    elif lesson:
        items = media.by_lesson(lesson)
    else:
        items = media.all()[-limit:]
    return web.json_response({"lesson": lesson, "count": len(items), "media": [i.describe() for i in items]},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/media", listing),
        web.get(f"/media/{ID}.json", sidecar),
        web.get(f"/media/{ID}/thumb", thumbnail),
        web.post(f"/media/{ID}/annotations", annotate),
        web.get(f"/media/{ID}", original),
        web.delete(f"/media/{ID}", delete),
    ]
