"""A real aiohttp server with the inventory API and the media routes, on a free port, and an MJPEG reader."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse, web

from classroomd.devices.base import Device
from classroomd.web import api, media
from classroomd.web.context import CONTEXT
from tests.support.host import RecordingHost


@dataclass
class WebHost(RecordingHost):
    """The recording host plus what the HTTP layer asks of the agent."""

    token: str = "secret-token"
    extra: dict[str, Any] = field(default_factory=dict)

    def all_devices(self) -> list[Device]:
        return list(self.devices.values())


async def serve(host: WebHost, extra_routes: list[web.RouteDef] | None = None) -> web.AppRunner:
    app = web.Application()
    app[CONTEXT] = host
    app.add_routes(api.routes() + media.routes() + (extra_routes or []))
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    host.base_url = f"http://127.0.0.1:{port}"
    return runner


@dataclass
class Part:
    headers: dict[str, str]
    body: bytes

    @property
    def seq(self) -> int:
        return int(self.headers.get("x-frame-seq", "0"))


async def read_part(response: ClientResponse, boundary: str) -> Part:
    """One part of a multipart/x-mixed-replace body: `--boundary`, headers, blank line, Content-Length bytes."""
    head = await response.content.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").strip("\r\n").split("\r\n")
    assert lines[0] == f"--{boundary}", f"expected a boundary, got {lines[0]!r}"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await response.content.readexactly(int(headers["content-length"]))
    return Part(headers, body)


def boundary_of(response: ClientResponse) -> str:
    match = re.search(r"boundary=\"?([^\";]+)", response.headers["Content-Type"])
    assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace") and match
    return match.group(1)
