"""Parts the panel tests share: a host that is also the web context, a real HTTP server,
a microscope stand-in that captures real JPEGs and serves a real MJPEG stream, and a board client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType, web

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import Device, DeviceInfo, Kind, NoArgs, Status, action
from classroomd.devices.panel import PanelDevice
from classroomd.web import device_http
from classroomd.web.server import build_app
from tests.support.host import RecordingHost


@dataclass
class WebHost(RecordingHost):
    """The devices' host and the HTTP layer's context at once, as the agent is."""

    token: str = "test-token"

    def all_devices(self) -> list[Device]:
        return list(self.devices.values())

    def add(self, device: Device) -> Device:
        self.devices[device.id] = device
        return device


@dataclass
class Server:
    host: WebHost
    port: int = 0
    runner: web.AppRunner | None = None

    async def start(self) -> Server:
        self.runner = web.AppRunner(build_app(self.host), shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        self.host.base_url = self.url
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def make_jpeg(width: int = 640, height: int = 480, color: tuple[int, int, int] = (0, 0, 255), mark: int = 0) -> bytes:
    """A solid-colour JPEG (BGR colour) with a white square whose position follows `mark`."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = color
    x = (mark * 37) % max(1, width - 40)
    image[20:60, x:x + 40] = (255, 255, 255)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


class FakeMicroscope(Device):
    """A microscope stand-in: `capture` stores a real JPEG in the media store; `stream` is real MJPEG."""

    kind = Kind.MICROSCOPE

    def __init__(self, device_id: str = "scope-1", um_per_px: float | None = 2.0,
                 size: tuple[int, int] = (640, 480)) -> None:
        super().__init__(DeviceInfo(id=device_id, kind=Kind.MICROSCOPE, name="Test microscope", transport="sim"))
        self.um_per_px = um_per_px
        self.size = size
        self.frames = 0

    async def start(self, host: Any) -> None:
        await super().start(host)
        self.set_status(Status.READY)

    @action("capture", NoArgs, "Capture a still.")
    async def capture(self, _args: NoArgs) -> dict[str, Any]:
        lesson = self.host.lesson
        jpeg = make_jpeg(*self.size, color=(0, 0, 255))
        meta = {"device": self.id, "lesson": lesson.id if lesson else None, "width": self.size[0],
                "height": self.size[1], "um_per_px": self.um_per_px, "magnification": 40, "tags": []}
        item = await asyncio.to_thread(self.host.media.save_capture, jpeg, meta)
        return {"media_id": item.id, "url": item.url, "thumbnail_url": item.thumb_url}


    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame",
                                               "Cache-Control": "no-store"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                self.frames += 1
                shade = (self.frames * 40) % 256
                jpeg = make_jpeg(320, 240, color=(shade, 255 - shade, 0), mark=self.frames)
                await response.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                     + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                await asyncio.sleep(0.1)
        return response


@dataclass
class BoardClient:
    """A scripted board page over a real WebSocket: acknowledges (or refuses) every show."""

    ws: ClientWebSocketResponse
    refuse: str | None = None
    silent: bool = False
    shows: list[dict[str, Any]] = field(default_factory=list)
    inks: list[dict[str, Any]] = field(default_factory=list)
    hello: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if data["type"] == "hello":
                self.hello = data
            elif data["type"] == "show":
                self.shows.append(data)
                if self.silent:
                    continue
                if self.refuse:
                    await self.ws.send_json({"type": "nack", "id": data["id"], "error": self.refuse})
                else:
                    await self.ws.send_json({"type": "ack", "id": data["id"], "kind": data["content"]["kind"]})
            elif data["type"] == "ink":
                self.inks.append(data)


@contextlib.asynccontextmanager
async def board_client(server: Server, panel: str, **kwargs: Any) -> AsyncIterator[BoardClient]:
    async with ClientSession() as session, session.ws_connect(f"{server.url}/board/ws?panel={panel}") as ws:
        client = BoardClient(ws, **kwargs)
        client.task = asyncio.create_task(client.run())
        hub = server.host.board
        async with asyncio.timeout(5):
            while hub.connected(panel) == 0 or client.hello is None:
                await asyncio.sleep(0.01)
        try:
            yield client
        finally:
            client.task.cancel()
            await asyncio.gather(client.task, return_exceptions=True)


async def start_panel(host: WebHost, port: str | None, **extra: Any) -> PanelDevice:
    config = DeviceConfig.model_validate({"id": "panel-1", "kind": "panel", "name": "Front panel", "port": port,
                                          "profile": "smart-6000", "input": "hdmi1", "poll_s": 30, **extra})
    panel = PanelDevice.from_config(config)
    await panel.start(host)
    host.add(panel)
    return panel


async def start_scope(host: WebHost, **kwargs: Any) -> FakeMicroscope:
    scope = FakeMicroscope(**kwargs)
    await scope.start(host)
    host.add(scope)
    return scope


# The fake's stream is served like a real microscope's: through the web layer's endpoint table.
device_http.register(FakeMicroscope, {"stream": lambda scope, request: scope._stream(request)})
