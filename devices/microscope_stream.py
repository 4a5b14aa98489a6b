"""What a microscope keeps for the viewers of its frames: view options, downscaled variants, stream clients.

The HTTP endpoints themselves are in web/microscope_http.py.

Frames stay the camera's JPEG bytes from the grab thread to the client's
socket; pixels are decoded only for thumbnails and downscaled streams. Every
stream client always gets the newest frame: a slow client skips frames and
never builds up a queue, so a rural uplink sees a slower picture, not an older one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from classroomd.devices.base import Device, RequestError
from classroomd.drivers.v4l_capture import AsyncFrames, CaptureStatus, Frame, FrameCapture
from classroomd.drivers.v4l_capture import scaled_jpeg as _scaled_jpeg

if TYPE_CHECKING:
    # Only for the annotation of `opts`: microscope.py imports this module at run time.
    from classroomd.devices.microscope import Options

#: What the web layer reads of a frame and a capture (it does not import drivers itself).
__all__ = ["BOUNDARY", "PLACEHOLDER_EVERY_S", "STREAM_SNDBUF", "CaptureStatus", "Frame", "MicroscopeStreaming",
           "StreamClient", "Variants", "ViewOptions", "placeholder_jpeg"]

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


def _bad_request(message: str) -> RequestError:
    return RequestError("invalid_arguments", message)


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

    def add_client(self, peer: str, view: ViewOptions) -> StreamClient:
        self._next_client += 1
        client = StreamClient(self._next_client, peer, view)
        self.clients[client.id] = client
        self.changed()
        return client

    def remove_client(self, client: StreamClient) -> None:
        self.clients.pop(client.id, None)
        if self._host is not None:
            self.changed()
