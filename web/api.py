"""`/healthz` and the read-only inventory API."""

from __future__ import annotations

from aiohttp import web

from classroomd.web.context import context, require_token
from classroomd.web.device_http import endpoints_of
from classroomd.web.errors import http_error


async def healthz(request: web.Request) -> web.Response:
    ctx = context(request)
    return web.json_response({"status": "ok", "devices": len(ctx.all_devices())})


async def devices(request: web.Request) -> web.Response:
    ctx = context(request)
    return web.json_response([d.snapshot() for d in ctx.all_devices()])


async def device(request: web.Request) -> web.Response:
    found = context(request).device(request.match_info["device_id"])
    if found is None:
        raise http_error(404, "unknown_device", f"no device {request.match_info['device_id']} in this classroom")
    return web.json_response({**found.snapshot(), "describe": found.describe()})


async def device_endpoint(request: web.Request) -> web.StreamResponse:
    """A device's own endpoints (a microscope's stream and snapshot) at /devices/{id}/{name}."""
    found = context(request).device(request.match_info["device_id"])
    if found is None:
        raise http_error(404, "unknown_device", f"no device {request.match_info['device_id']} in this classroom")
    handler = endpoints_of(found).get(request.match_info["endpoint"])
    if handler is None:
        raise http_error(404, "unknown_endpoint", f"device {found.id} has no endpoint {request.match_info['endpoint']}")
    # One rule for every device endpoint, so a device module never handles credentials: reads are open
    # on the classroom LAN, anything else (a capture, a setting) needs the daemon's token.
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        require_token(request)
    return await handler(found, request)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/api/v1/devices", devices),
        web.get("/api/v1/devices/{device_id}", device),
        web.route("*", "/devices/{device_id}/{endpoint}", device_endpoint),
    ]
