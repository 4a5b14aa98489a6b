"""`POST /api/v1/uploads` (token needed) and `GET /api/v1/uploads`: G-code files for the printers.

The body is streamed to disk as it arrives — `multipart/form-data` (the first
file part) or a raw body named by `?name=` — so a 50 MB file never sits in
memory, and a body over the limit is cut off and deleted.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, web

from classroomd.services.uploads import UploadError
from classroomd.web.context import context, require_token
from classroomd.web.errors import http_error

#: Large enough for an hour-long print's G-code; `CLASSROOMD_MAX_UPLOAD_MB` overrides it.
MAX_UPLOAD_BYTES = int(float(os.environ.get("CLASSROOMD_MAX_UPLOAD_MB", "128")) * 1024 * 1024)
CHUNK = 64 * 1024


_error = http_error


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def _body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    while chunk := await request.content.read(CHUNK):
        yield chunk


async def upload(request: web.Request) -> web.Response:
    require_token(request)
    store = context(request).uploads
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES + 64 * 1024:
        raise _error(413, "too_large",
                     f"the file is larger than the limit of {MAX_UPLOAD_BYTES} bytes")
    try:
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    raise _error(400, "no_file", "the form has no file part")
                if isinstance(part, BodyPartReader) and part.filename:
                    # aiohttp's client percent-encodes file names; browsers send them as they are.
                    name = urllib.parse.unquote(part.filename)
                    item = await store.save_stream(name, _part_chunks(part), MAX_UPLOAD_BYTES)
                    break
        else:
            name = request.query.get("name", "")
            if not name:
                raise _error(400, "no_name", "a raw upload needs ?name=FILE.gcode")
            item = await store.save_stream(name, _body_chunks(request), MAX_UPLOAD_BYTES)
    except UploadError as exc:
        raise _error(413 if exc.code == "too_large" else 400, exc.code, exc.message) from None
    return web.json_response({"file": item.as_dict()}, status=201)


async def list_uploads(request: web.Request) -> web.Response:
    return web.json_response({"files": [f.as_dict() for f in context(request).uploads.list()]})


async def get_upload(request: web.Request) -> web.Response:
    item = context(request).uploads.get(request.match_info["file_id"])
    if item is None:
        raise _error(404, "unknown_file", "no such upload")
    return web.json_response({"file": item.as_dict()})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/api/v1/uploads", upload),
        web.get("/api/v1/uploads", list_uploads),
        web.get("/api/v1/uploads/{file_id}", get_upload),
    ]
