"""The engineer's console at `/engineer`: see, test and fix the classroom from a browser.

What needs the daemon layer (the doctor's checks, the config checked with each kind's own keys,
discovery's devices that are seen but not driven) comes through `EngineerTools`, which the daemon
registers with `use_tools`: the web layer may not import it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from classroomd.config.loader import ConfigError, ConfigIssue, parse_config
from classroomd.core.vocabulary import Kind
from classroomd.web import logbuffer, pin
from classroomd.web.context import WebContext, context
from classroomd.web.remote import run_request, static_text

log = logging.getLogger("classroomd.engineer")

MAX_CONFIG_BYTES = 256 * 1024
SECRET_KEYS = ("password", "pin", "engineer_password", "key_file")


class EngineerTools(Protocol):
    def config_path(self) -> Path | None: ...
    def check_config(self, text: str, file: str) -> list[ConfigIssue]: ...
    async def doctor(self, ctx: WebContext) -> list[dict[str, Any]]: ...
    def seen_not_driven(self, ctx: WebContext) -> list[dict[str, Any]]: ...


class BasicTools:
    """Without the daemon (a test host): the shared config shape only, no doctor."""

    def config_path(self) -> Path | None:
        return None

    def check_config(self, text: str, file: str) -> list[ConfigIssue]:
        try:
            parse_config(text, file)
        except ConfigError as exc:
            return exc.issues
        return []

    async def doctor(self, ctx: WebContext) -> list[dict[str, Any]]:
        return []

    def seen_not_driven(self, ctx: WebContext) -> list[dict[str, Any]]:
        return []


_tools: EngineerTools = BasicTools()


def use_tools(tools: EngineerTools) -> None:
    global _tools
    _tools = tools


def tools() -> EngineerTools:
    return _tools


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_KEYS and v else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _who(request: web.Request) -> str:
    return f"engineer@{request.remote or '?'}"


# --- handlers ------------------------------------------------------------------------------------------
async def page(request: web.Request) -> web.Response:
    return web.Response(text=static_text("engineer.html"), content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


async def login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = {}
    secret = str(body.get("secret", "")) if isinstance(body, dict) else ""
    cookie = pin.check_secret(request, secret, "engineer")
    log.info("engineer signed in from %s", request.remote)
    response = _json({"engineer": True})
    pin.set_cookie(response, pin.ENGINEER_COOKIE, cookie)
    return response


async def overview(request: web.Request) -> web.Response:
    """Every device with its status, fault reason and why discovery took it for its kind."""
    pin.require_engineer(request)
    ctx = context(request)
    config = pin.config_of(ctx)
    devices = []
    for device in ctx.all_devices():
        info = device.describe()
        devices.append({**device.snapshot(), "matched_by": info.get("matched_by", ""),
                        "paths": info.get("paths", []), "usb": info.get("usb"),
                        "transport": info.get("transport", ""), "actions": sorted(info.get("actions", {}))})
    return _json({
        "devices": devices,
        "seen_not_driven": tools().seen_not_driven(ctx),
        "pin": config.http.pin if config else None,
        "listen": config.http.listen if config else None,
        "board_urls": {d.id: f"{ctx.http_base}/board?panel={d.id}" for d in ctx.all_devices() if d.kind == Kind.PANEL},
    })


async def doctor(request: web.Request) -> web.Response:
    pin.require_engineer(request)
    return _json({"findings": await tools().doctor(context(request))})


async def test_device(request: web.Request) -> web.Response:
    """Identify a device the way its kind can show it, through its own requests and state."""
    pin.require_engineer(request)
    ctx = context(request)
    device_id = request.match_info["device_id"]
    device = ctx.device(device_id)
    if device is None:
        return _json({"status": "error", "error": {"code": "unknown_device", "message": device_id}}, 404)
    log.info("%s tests %s", _who(request), device_id, extra={"device": device_id})
    snapshot = device.snapshot()
    if device.kind == Kind.PANEL:
        card = {"type": "text", "title": f"classroomd: {device.name}",
                "text": time.strftime("%Y-%m-%d %H:%M:%S")}
        return await run_request(ctx, device_id, "show", {"card": card})
    if device.kind == Kind.MICROSCOPE:
        data: dict[str, Any] = {"snapshot_url": f"/devices/{device_id}/snapshot?t={time.time():.0f}",
                                "fps": snapshot.get("fps"), "resolution": snapshot.get("resolution")}
    elif device.kind == Kind.PRINTER:
        data = {k: snapshot.get(k) for k in ("temperatures", "firmware", "capabilities")}
    else:
        data = {k: snapshot.get(k) for k in ("last_touch", "touches", "contacts", "touching") if k in snapshot}
    return _json({"status": "ok", "data": {"kind": str(device.kind), "status": snapshot.get("status"), **data}})


async def logs(request: web.Request) -> web.Response:
    pin.require_engineer(request)
    device = request.query.get("device") or None
    try:
        limit = max(1, min(logbuffer.LINES, int(request.query.get("limit", str(logbuffer.LINES)))))
    except ValueError:
        limit = logbuffer.LINES
    return _json({"lines": logbuffer.buffer().select(device, limit)})


async def get_config(request: web.Request) -> web.StreamResponse:
    pin.require_engineer(request)
    ctx = context(request)
    path = tools().config_path()
    text = ""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            text = f"# cannot read {path}: {exc.strerror}\n"
    if request.query.get("download"):
        name = path.name if path is not None else "classroomd.toml"
        return web.Response(text=text, content_type="application/toml",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
    config = pin.config_of(ctx)
    return _json({"path": str(path) if path else None, "text": text,
                  "running": _masked(config.model_dump(mode="json")) if config else None})


async def put_config(request: web.Request) -> web.Response:
    """Check a new config with every rule the daemon applies; save it (old one kept) only when it passes.

    The running daemon keeps its config: a restart applies the file, so a mistake found later never
    takes the classroom down in the middle of a lesson.
    """
    pin.require_engineer(request)
    path = tools().config_path()
    raw = await request.content.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        return _json({"saved": False, "issues": [{"line": None, "key": "", "message": "file too large"}]}, 413)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _json({"saved": False, "issues": [{"line": None, "key": "", "message": "not UTF-8 text"}]}, 422)
    name = str(path) if path is not None else "classroomd.toml"
    issues = tools().check_config(text, name)
    if issues:
        log.info("%s uploaded a config with %d problems; not saved", _who(request), len(issues))
        return _json({"saved": False, "issues": [
            {"file": i.file, "line": i.line, "key": i.key, "message": i.message, "text": str(i)} for i in issues]}, 422)
    if path is None:
        return _json({"saved": False, "issues": [
            {"line": None, "key": "", "message": "the daemon was started without --config: nothing to save to"}]}, 409)
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
    try:
        if path.exists():
            backup.write_bytes(path.read_bytes())
        tmp = path.with_name(f".{path.name}.new")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        return _json({"saved": False, "issues": [{"line": None, "key": "", "message": f"{path}: {exc.strerror}"}]}, 500)
    log.info("%s saved a new config to %s (backup %s)", _who(request), path, backup.name)
    return _json({"saved": True, "path": str(path), "backup": str(backup),
                  "apply": "sudo systemctl restart classroomd"})


def routes() -> list[web.RouteDef]:
    logbuffer.buffer()  # from the start, so the console shows what happened before anyone opened it
    return [
        web.get("/engineer", page),
        web.post("/api/v1/engineer/login", login),
        web.get("/api/v1/engineer/overview", overview),
        web.get("/api/v1/engineer/doctor", doctor),
        web.post("/api/v1/engineer/test/{device_id}", test_device),
        web.get("/api/v1/engineer/logs", logs),
        web.get("/api/v1/engineer/config", get_config),
        web.put("/api/v1/engineer/config", put_config),
    ]
