"""Serving a microscope's frames over HTTP: MJPEG stream, snapshot and µStreamer-shaped state.

Frames stay the camera's JPEG bytes from the grab thread to the client's
socket; pixels are decoded only for thumbnails and downscaled streams. Every
stream client always gets the newest frame: a slow client skips frames and
never builds up a queue, so a rural uplink sees a slower picture, not an older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from classroomd.devices.base import Device, HttpHandler, RequestError
from classroomd.drivers.v4l_capture import AsyncFrames, CaptureStatus, Frame, FrameCapture
from classroomd.drivers.v4l_capture import scaled_jpeg as _scaled_jpeg

if TYPE_CHECKING:
    # Only for the annotation of `opts`: microscope.py imports this module at run time.
    from classroomd.devices.microscope import Options

BOUNDARY = "boundarydonotcross"  # µStreamer's boundary: viewers written for it parse ours
#: Kernel send buffer of a stream socket: small, so a slow client's backlog is a frame or two, not seconds.
STREAM_SNDBUF = 256 * 1024
PLACEHOLDER_EVERY_S = 1.0


@dataclass(frozen=True)
class ViewOptions:
    width: int = 0
    fps: float = 0.0
    quality: int = 0

    @property
    def passthrough(self) -> bool:
        return not self.width and not self.quality

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> ViewOptions:
        def number(name: str, low: float, high: float) -> float:
            text = query.get(name)
            if text is None or text == "":
                return 0
            try:
                value = float(text)
            except ValueError:
                raise _bad_request(f"{name} must be a number, got {text!r}") from None
            if not low <= value <= high:
                raise _bad_request(f"{name} must be between {low:g} and {high:g}, got {text}")
            return value

        return cls(int(number("width", 16, 7680)), number("fps", 0.1, 120), int(number("quality", 10, 100)))


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps(RequestError("invalid_arguments", message).body()),
                              content_type="application/json")


class Variants:
    """Downscaled/re-encoded frames, computed once per frame per option set for all clients that asked."""

    def __init__(self, default_quality: int) -> None:
        self.default_quality = default_quality
        self._tasks: dict[tuple[int, int, int], asyncio.Task[bytes]] = {}
        #: How many frames were decoded and re-encoded (for tests and the state endpoint).
        self.encodes = 0

    async def get(self, frame: Frame, view: ViewOptions) -> bytes:
        if view.passthrough or (view.width >= frame.width and not view.quality):
            return frame.jpeg
        width = min(view.width or frame.width, frame.width)
        quality = view.quality or self.default_quality
        key = (frame.seq, width, quality)
        task = self._tasks.get(key)
        if task is None:
            for old in [k for k in self._tasks if k[0] < frame.seq - 2]:
                del self._tasks[old]
            self.encodes += 1
            task = asyncio.ensure_future(asyncio.to_thread(_scaled_jpeg, frame.jpeg, width, quality))
            self._tasks[key] = task
        return await asyncio.shield(task)


def placeholder_jpeg(width: int, height: int, label: str) -> bytes:
    """An 'offline' picture: what viewers see while the camera is unplugged or stalled."""
    import cv2
    import numpy as np

    from classroomd.drivers.v4l_capture import encode_jpeg

    image = np.full((height, width, 3), (48, 40, 36), np.uint8)
    cx, cy, r = width // 2, height // 2 - height // 10, max(8, min(width, height) // 6)
    thickness = max(2, r // 10)
    cv2.circle(image, (cx, cy), r, (150, 150, 150), thickness, cv2.LINE_AA)
    cv2.line(image, (cx - r, cy + r), (cx + r, cy - r), (60, 60, 220), thickness, cv2.LINE_AA)
    scale = max(0.4, width / 900)
    # Hershey fonts are ASCII only: the localized reason is in /state and on MQTT.
    for i, text in enumerate(("NO SIGNAL", label.encode("ascii", "replace").decode())):
        size = scale * (1.6 if i == 0 else 0.9)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, size, max(1, int(size * 2)))
        y = cy + r + int(th * 2.2) + i * int(th * 2.0)
        cv2.putText(image, text, ((width - tw) // 2, y), cv2.FONT_HERSHEY_SIMPLEX, size, (200, 200, 200),
                    max(1, int(size * 2)), cv2.LINE_AA)
    return encode_jpeg(image, 70)


@dataclass
class StreamClient:
    id: int
    peer: str
    view: ViewOptions
    started: float = field(default_factory=time.monotonic)
    frames: int = 0
    skipped: int = 0
    stamps: list[float] = field(default_factory=list)

    def sent(self, skipped: int) -> None:
        now = time.monotonic()
        self.frames += 1
        self.skipped += max(0, skipped)
        self.stamps = [t for t in self.stamps if now - t <= 2.0] + [now]

    @property
    def fps(self) -> float:
        s = self.stamps
        return round((len(s) - 1) / (s[-1] - s[0]), 1) if len(s) > 1 and s[-1] > s[0] else 0.0

    def describe(self) -> dict[str, Any]:
        return {"fps": self.fps, "frames": self.frames, "skipped": self.skipped, "peer": self.peer,
                "width": self.view.width or None, "max_fps": self.view.fps or None,
                "quality": self.view.quality or None}


class MicroscopeStreaming(Device):
    """The HTTP endpoints of a microscope; MicroscopeDevice is the one subclass.

    A base class rather than a helper object: the handlers keep reading the
    device's own frames, capture and counters, which a restart replaces on the
    device. MicroscopeDevice sets the attributes declared below.
    """

    opts: Options
    capture: FrameCapture | None
    frames: AsyncFrames | None
    variants: Variants
    clients: dict[int, StreamClient]
    _next_client: int
    _placeholders: dict[tuple[int, int], bytes]

    def http_endpoints(self) -> dict[str, HttpHandler]:
        return {"stream": self.http_stream, "snapshot": self.http_snapshot, "state": self.http_state,
                "capture": self.http_capture}

    def placeholder(self, width: int = 0) -> bytes:
        status = self.capture.status if self.capture is not None else CaptureStatus()
        latest_size = (status.width, status.height)
        w, h = latest_size if all(latest_size) else (self.opts.width, self.opts.height)
        if width and width < w:
            w, h = width, max(1, round(h * width / w))
        key = (w, h)
        if key not in self._placeholders:
            self._placeholders[key] = placeholder_jpeg(w, h, f"{self.id}")
        return self._placeholders[key]

    async def http_snapshot(self, request: web.Request) -> web.StreamResponse:
        view = ViewOptions.parse(request.query)
        latest = self.frames.latest if self.frames is not None else None
        headers = {"Cache-Control": "no-store", "X-UStreamer-Online": "true" if latest else "false"}
        if latest is None:
            return web.Response(status=503, body=self.placeholder(view.width), content_type="image/jpeg",
                                headers=headers)
        body = await self.variants.get(latest, view)
        headers.update({"X-Timestamp": f"{latest.wall:.6f}", "X-Frame-Seq": str(latest.seq),
                        "X-UStreamer-Width": str(latest.width), "X-UStreamer-Height": str(latest.height)})
        return web.Response(body=body, content_type="image/jpeg", headers=headers)

    async def http_state(self, request: web.Request) -> web.Response:
        """µStreamer-shaped /state, plus the device's own state."""
        capture = self.capture
        latest = self.frames.latest if self.frames is not None else None
        status = capture.status if capture is not None else CaptureStatus()
        result = {
            "instance_id": self.id,
            "encoder": {"type": "PASSTHROUGH" if status.passthrough else "CPU", "quality": self.opts.quality},
            "source": {
                "resolution": {"width": latest.width if latest else status.width,
                               "height": latest.height if latest else status.height},
                "online": latest is not None,
                "desired_fps": status.fps_target,
                "captured_fps": capture.measured_fps if capture is not None else 0.0,
                "reason": status.reason or None,
            },
            "stream": {
                "clients": len(self.clients),
                "clients_stat": {str(c.id): c.describe() for c in self.clients.values()},
                "downscaled_encodes": self.variants.encodes,
            },
            "device": self.snapshot(),
        }
        return web.json_response({"ok": True, "result": result}, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def http_capture(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        # The token was checked by the web layer, which guards every device endpoint that is not a read.
        body: dict[str, Any] = {}
        if request.can_read_body:
            with contextlib.suppress(ValueError):
                parsed = await request.json()
                body = parsed if isinstance(parsed, dict) else {}
        try:
            data = await self.request("capture", body)
        except RequestError as exc:
            status = 503 if exc.code == "offline" else 400
            return web.json_response(exc.body(), status=status)
        return web.json_response(dict(data))

    async def http_stream(self, request: web.Request) -> web.StreamResponse:
        view = ViewOptions.parse(request.query)
        frames = self.frames
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
        self._next_client += 1
        client = StreamClient(self._next_client, request.remote or "", view)
        self.clients[client.id] = client
        self.changed()
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
                        await self._write_part(response, self.placeholder(view.width), None, first)
                        first = False
                        last_placeholder = loop.time()
                    continue
                body = await self.variants.get(frame, view)
                await self._write_part(response, body, frame, first)
                first = False
                client.sent(frame.seq - last_seq - 1 if last_seq else 0)
                last_seq = frame.seq
                last_sent = loop.time()
        except ConnectionError:
            pass  # the viewer went away
        finally:
            self.clients.pop(client.id, None)
            if self._host is not None:
                self.changed()
        return response

    @staticmethod
    async def _write_part(response: web.StreamResponse, body: bytes, frame: Frame | None, first: bool) -> None:
        lines = [f"{'' if first else chr(13) + chr(10)}--{BOUNDARY}", "Content-Type: image/jpeg",
                 f"Content-Length: {len(body)}"]
        if frame is not None:
            lines += [f"X-Timestamp: {frame.wall:.6f}", f"X-Frame-Seq: {frame.seq}"]
        else:
            lines.append("X-UStreamer-Online: false")
        await response.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await response.write(body)
