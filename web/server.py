"""The daemon's one HTTP server: each feature module contributes its routes."""

from __future__ import annotations

import importlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from classroomd.core import limits
from classroomd.web.context import CONTEXT, WebContext
from classroomd.web.errors import http_error

log = logging.getLogger("classroomd.http")

# Each feature module has `routes() -> list[web.RouteDef]`.
FEATURES = (
    "classroomd.web.api",
    "classroomd.web.media",
    "classroomd.web.uploads",
    "classroomd.web.board",
    "classroomd.web.remote",
    "classroomd.web.engineer",
    "classroomd.web.linked",
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


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def body_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The limits of core/limits.py for every JSON body, answered in the one error shape.

    Checked before any handler parses it, so a 100,000-deep `[[[…]]]` is a 400, not a RecursionError
    and a 500; streamed uploads are other content types and are not read here.
    """
    too_deep = f"the body is JSON nested deeper than {limits.MAX_JSON_DEPTH} levels (the limit)"
    try:
        if request.content_type == "application/json" and request.can_read_body:
            try:
                text = await request.text()
            except (UnicodeDecodeError, LookupError):  # LookupError: a charset Python does not know
                raise http_error(400, "bad_json", "the body is not text in a known charset") from None
            if limits.json_depth_exceeds(text):
                raise http_error(400, "bad_json", too_deep)
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        raise http_error(413, "too_large",
                         f"the body is larger than the limit of {limits.MAX_HTTP_BODY_BYTES} bytes") from None
    except RecursionError:  # a body of another content type that a handler parsed as JSON anyway
        raise http_error(400, "bad_json", too_deep) from None
    except (ValueError, HttpProcessingError) as exc:
        # aiohttp's multipart reader raises these for a form without a boundary or with broken part
        # headers: the client's mistake, found by the HTTP fuzzer as a 500.
        if request.content_type != "multipart/form-data":
            raise
        raise http_error(400, "bad_request", f"the multipart/form-data body is malformed: {exc}") from None


def build_app(ctx: WebContext) -> web.Application:
    app = web.Application(client_max_size=limits.MAX_HTTP_BODY_BYTES, middlewares=[body_limits])
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
