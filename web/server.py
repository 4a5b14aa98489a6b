"""The daemon's one HTTP server: each feature module contributes its routes."""

from __future__ import annotations

import importlib
import logging
import socket
from dataclasses import dataclass

from aiohttp import web

from classroomd.web.context import CONTEXT, WebContext

log = logging.getLogger("classroomd.http")

# Each feature module has `routes() -> list[web.RouteDef]`.
FEATURES = (
    "classroomd.web.api",
    "classroomd.web.media",
    "classroomd.web.uploads",
    "classroomd.web.board",
    "classroomd.web.remote",
    "classroomd.web.engineer",
)


class HttpPortBusy(Exception):
    pass


@dataclass
class HttpServer:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            try:
                host = socket.gethostbyname(socket.gethostname())
            except OSError:
                host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


def build_app(ctx: WebContext) -> web.Application:
    app = web.Application(client_max_size=1024**2)
    app[CONTEXT] = ctx
    for name in FEATURES:
        app.add_routes(importlib.import_module(name).routes())
    return app


async def start(ctx: WebContext, listen: str) -> HttpServer:
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]")
    runner = web.AppRunner(build_app(ctx), access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, host, int(port_text), reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise HttpPortBusy(
            f"cannot serve HTTP on {listen}: {exc.strerror}. Choose another with --http HOST:PORT "
            "or [http] listen in the config"
        ) from None
    port = int(port_text)
    sockets = getattr(site._server, "sockets", None)  # port 0 asks the OS for a free port
    if sockets:
        port = int(sockets[0].getsockname()[1])
    log.info("HTTP on %s:%d", host, port)
    return HttpServer(runner, host, port)
