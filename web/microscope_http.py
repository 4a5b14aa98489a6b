"""A microscope's HTTP endpoints: MJPEG stream, snapshot, µStreamer-shaped state, and capture.

Frames stay the camera's JPEG bytes from the grab thread to the client's socket; pixels are decoded
only for thumbnails and downscaled streams. Every stream client always gets the newest frame: a slow
client skips frames and never builds up a queue, so a rural uplink sees a slower picture, not an older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
from typing import Any

from aiohttp import web

from classroomd.devices.base import RequestError
from classroomd.devices.microscope_stream import (
    BOUNDARY,
    PLACEHOLDER_EVERY_S,
    STREAM_SNDBUF,
    CaptureStatus,
    Frame,
    MicroscopeStreaming,
    ViewOptions,
)


def view_options(request: web.Request) -> ViewOptions:
    try:
        return ViewOptions.parse(request.query)
    except RequestError as exc:
        raise web.HTTPBadRequest(text=json.dumps(exc.body()), content_type="application/json") from None


async def snapshot(scope: MicroscopeStreaming, request: web.Request) -> web.StreamResponse:
    view = view_options(request)
    latest = scope.frames.latest if scope.frames is not None else None
    headers = {"Cache-Control": "no-store", "X-UStreamer-Online": "true" if latest else "false"}
    if latest is None:
        return web.Response(status=503, body=scope.placeholder(view.width), content_type="image/jpeg",
                            headers=headers)
    body = await scope.variants.get(latest, view)
    headers.update({"X-Timestamp": f"{latest.wall:.6f}", "X-Frame-Seq": str(latest.seq),
                    "X-UStreamer-Width": str(latest.width), "X-UStreamer-Height": str(latest.height)})
    return web.Response(body=body, content_type="image/jpeg", headers=headers)

async def state(scope: MicroscopeStreaming, request: web.Request) -> web.Response:
    """µStreamer-shaped /state, plus the device's own state."""
    capture = scope.capture
    latest = scope.frames.latest if scope.frames is not None else None
    status = capture.status if capture is not None else CaptureStatus()
    result = {
        "instance_id": scope.id,
        "encoder": {"type": "PASSTHROUGH" if status.passthrough else "CPU", "quality": scope.opts.quality},
        "source": {
            "resolution": {"width": latest.width if latest else status.width,
                           "height": latest.height if latest else status.height},
            "online": latest is not None,
            "desired_fps": status.fps_target,
            "captured_fps": capture.measured_fps if capture is not None else 0.0,
            "reason": status.reason or None,
        },
        "stream": {
            "clients": len(scope.clients),
            "clients_stat": {str(c.id): c.describe() for c in scope.clients.values()},
            "downscaled_encodes": scope.variants.encodes,
        },
        "device": scope.snapshot(),
    }
    return web.json_response({"ok": True, "result": result}, dumps=lambda o: json.dumps(o, ensure_ascii=False))

async def capture(scope: MicroscopeStreaming, request: web.Request) -> web.Response:
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    # The token was checked by the web layer, which guards every device endpoint that is not a read.
    body: dict[str, Any] = {}
    if request.can_read_body:
        with contextlib.suppress(ValueError):
            parsed = await request.json()
            body = parsed if isinstance(parsed, dict) else {}
    try:
        data = await scope.request("capture", body)
    except RequestError as exc:
        status = 503 if exc.code == "offline" else 400
        return web.json_response(exc.body(), status=status)
    return web.json_response(dict(data))

async def stream(scope: MicroscopeStreaming, request: web.Request) -> web.StreamResponse:
    view = view_options(request)
    frames = scope.frames
    if frames is None:
        raise web.HTTPServiceUnavailable(text="the microscope is not started")
    response = web.StreamResponse(headers={
        "Content-Type": f"multipart/x-mixed-replace;boundary={BOUNDARY}",
        "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
        "Pragma": "no-cache",
        "Connection": "close",
        "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF)
    client = scope.add_client(request.remote or "", view)
    loop = asyncio.get_running_loop()
    first = True
    last_seq = 0
    last_sent = 0.0
    last_placeholder = -math.inf
    try:
        while True:
            if view.fps and last_sent:
                # Wake on a grid shared by every client at this rate: they all pick the same newest
                # frame, so a downscaled variant is computed once for all of them, not once per client.
                period = 1.0 / view.fps
                wait = (math.floor(last_sent / period) + 1) * period - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            frame = await frames.newer(last_seq, PLACEHOLDER_EVERY_S)
            if frame is None:
                if frames.latest is None and loop.time() - last_placeholder >= PLACEHOLDER_EVERY_S:
                    await _write_part(response, scope.placeholder(view.width), None, first)
                    first = False
                    last_placeholder = loop.time()
                continue
            body = await scope.variants.get(frame, view)
            await _write_part(response, body, frame, first)
            first = False
            client.sent(frame.seq - last_seq - 1 if last_seq else 0)
            last_seq = frame.seq
            last_sent = loop.time()
    except ConnectionError:
        pass  # the viewer went away
    finally:
        scope.remove_client(client)
    return response

async def _write_part(response: web.StreamResponse, body: bytes, frame: Frame | None, first: bool) -> None:
    lines = [f"{'' if first else chr(13) + chr(10)}--{BOUNDARY}", "Content-Type: image/jpeg",
             f"Content-Length: {len(body)}"]
    if frame is not None:
        lines += [f"X-Timestamp: {frame.wall:.6f}", f"X-Frame-Seq: {frame.seq}"]
    else:
        lines.append("X-UStreamer-Online: false")
    await response.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await response.write(body)


SERVES = MicroscopeStreaming
ENDPOINTS = {"stream": stream, "snapshot": snapshot, "state": state, "capture": capture}
