"""The HTTP API (JSON, and CSV for the inventory); writes need the bearer token."""

from __future__ import annotations

import csv
import hmac
import io
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import accounts, admin_pages, dashboard, live, pages, queries, room_page, school_page, schools
from classroomd.central.config import CentralConfig
from classroomd.central.ingester import Ingester
from classroomd.central.models import AckIn

ENGINE = web.AppKey("engine", AsyncEngine)
TOKEN = web.AppKey("token", str)
INGESTER = web.AppKey("ingester", object)
LIVE = web.AppKey("live", live.Live)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": {"code": code, "message": message}}, status)


def _day(text: str | None, fallback: date) -> str:
    if not text:
        return fallback.isoformat()
    return date.fromisoformat(text[:10]).isoformat()


async def healthz(request: web.Request) -> web.Response:
    ingester = request.app[INGESTER]
    body: dict[str, Any] = {"status": "ok"}
    if isinstance(ingester, Ingester):
        connected = ingester.connected
        body.update(broker="connected" if connected else "disconnected", counts=ingester.counts,
                    last_commit=queries.iso(ingester.last_commit))
        if not connected:
            body["status"] = "degraded"
    return _json(body)


async def classrooms(request: web.Request) -> web.Response:
    return _json(await queries.classrooms(request.app[ENGINE], request.query.get("site")))


async def classroom(request: web.Request) -> web.Response:
    found = await queries.classrooms(request.app[ENGINE], request.match_info["site"], request.match_info["room"])
    if not found:
        return _error(404, "not_found", "no such classroom")
    return _json(found[0])


async def sites(request: web.Request) -> web.Response:
    return _json(await queries.sites(request.app[ENGINE]))


def _window(request: web.Request, default_s: float) -> tuple[float, float]:
    """from/to as UNIX seconds (ValueError when they are not numbers)."""
    now = time.time()
    return float(request.query.get("from", now - default_s)), float(request.query.get("to", now))


def _limit(request: web.Request, default: int, most: int) -> int:
    return max(1, min(int(request.query.get("limit", str(default))), most))


async def health_samples(request: web.Request) -> web.Response:
    try:
        start, end = _window(request, 86400)
        limit = _limit(request, 2000, 20000)
    except ValueError:
        return _error(400, "bad_request", "from and to are UNIX seconds, limit an integer")
    return _json(await queries.health_samples(request.app[ENGINE], request.match_info["site"],
                                              request.match_info["room"], start, end, limit))


async def events(request: web.Request) -> web.Response:
    try:
        start, end = _window(request, 86400)
        limit = _limit(request, 500, 5000)
    except ValueError:
        return _error(400, "bad_request", "from and to are UNIX seconds, limit an integer")
    q = request.query
    return _json(await queries.events(request.app[ENGINE], q.get("site"), q.get("room"), q.get("device"), start,
                                      end, limit))


async def classroom_availability(request: web.Request) -> web.Response:
    try:
        start, end = _window(request, 86400)
    except ValueError:
        return _error(400, "bad_request", "from and to are UNIX seconds")
    totals = await queries.availability(request.app[ENGINE], request.match_info["site"],
                                        request.match_info["room"], request.query.get("device", ""), start, end)
    return _json({"from": queries.iso(start), "to": queries.iso(end), "seconds": totals})


async def alerts(request: web.Request) -> web.Response:
    active = request.query.get("active", "0") in ("1", "true", "yes")
    try:
        limit = max(1, min(int(request.query.get("limit", "500")), 5000))
    except ValueError:
        return _error(400, "bad_request", "limit must be an integer")
    return _json(await queries.alerts(request.app[ENGINE], active, request.query.get("site"), limit))


def _alert_id(request: web.Request) -> int | None:
    try:
        return int(request.match_info["id"])
    except ValueError:
        return None


async def alert_history(request: web.Request) -> web.Response:
    pk = _alert_id(request)
    if pk is None:
        return _error(404, "not_found", "no such alert")
    return _json(await queries.alert_history(request.app[ENGINE], pk))


def _authorized(request: web.Request) -> bool:
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {request.app[TOKEN]}"
    return hmac.compare_digest(given.encode(), expected.encode())


async def ack(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _error(401, "unauthorized", "needs Authorization: Bearer <token> (the token file in the state dir)")
    pk = _alert_id(request)
    if pk is None:
        return _error(404, "not_found", "no such alert")
    try:
        body = AckIn.model_validate_json(await request.read() or b"{}")
    except ValidationError as exc:
        return _error(400, "bad_request", f'expected {{"by": "who", "note": "…"}}: {exc.errors()[0]["msg"]}')
    result = await queries.ack_alert(request.app[ENGINE], pk, body.by or "api", body.note or None)
    if result is None:
        return _error(404, "not_found", "no such alert")
    return _json(result)


async def inventory(request: web.Request) -> web.Response:
    gone = request.query.get("gone", "0") in ("1", "true", "yes")
    return _json(await queries.inventory(request.app[ENGINE], gone))


async def inventory_csv(request: web.Request) -> web.Response:
    gone = request.query.get("gone", "0") in ("1", "true", "yes")
    rows = await queries.inventory(request.app[ENGINE], gone)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(queries.INVENTORY_FIELDS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    # The BOM makes spreadsheet programs read the Kazakh and Russian names as UTF-8.
    return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv",
                        charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="inventory.csv"'})


async def inventory_history(request: web.Request) -> web.Response:
    try:
        limit = max(1, min(int(request.query.get("limit", "1000")), 10000))
    except ValueError:
        return _error(400, "bad_request", "limit must be an integer")
    return _json(await queries.inventory_history(request.app[ENGINE], request.query.get("site"),
                                                 request.query.get("room"), limit))


async def usage(request: web.Request) -> web.Response:
    today = datetime.now(UTC).date()
    try:
        day_from = _day(request.query.get("from"), today - timedelta(days=7))
        day_to = _day(request.query.get("to"), today)
    except ValueError:
        return _error(400, "bad_request", "from and to are dates, YYYY-MM-DD")
    return _json({"from": day_from, "to": day_to,
                  "devices": await queries.usage(request.app[ENGINE], day_from, day_to)})


def build_app(engine: AsyncEngine, token: str, ingester: Ingester | None,
              cfg: CentralConfig | None = None) -> web.Application:
    app = web.Application()
    app[ENGINE] = engine
    app[TOKEN] = token
    app[INGESTER] = ingester if ingester is not None else object()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/sites", sites)
    app.router.add_get("/api/v1/classrooms", classrooms)
    app.router.add_get("/api/v1/classrooms/{site}/{room}", classroom)
    app.router.add_get("/api/v1/classrooms/{site}/{room}/health", health_samples)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get("/api/v1/classrooms/{site}/{room}/availability", classroom_availability)
    app.router.add_get("/api/v1/alerts", alerts)
    app.router.add_get("/api/v1/alerts/{id}/history", alert_history)
    app.router.add_post("/api/v1/alerts/{id}/ack", ack)
    app.router.add_get("/api/v1/inventory", inventory)
    app.router.add_get("/api/v1/inventory.csv", inventory_csv)
    app.router.add_get("/api/v1/inventory/history", inventory_history)
    app.router.add_get("/api/v1/usage", usage)
    _add_dashboard(app, engine)
    _add_admin(app, engine, cfg)
    return app


def _signed_in(engine: AsyncEngine, handler: Callable[[AsyncEngine, web.Request, accounts.Account], Awaitable[
        web.StreamResponse]]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        account = await pages.current(engine, request)
        if account is None:
            raise pages.to_login(request)
        return await handler(engine, request, account)
    return wrapped


def _add_admin(app: web.Application, engine: AsyncEngine, cfg: CentralConfig | None) -> None:
    setup = admin_pages.Provisioning(
        cfg.provision_dir if cfg else None,
        (cfg.provision_broker or cfg.brokers[0]) if cfg else "mqtt://127.0.0.1:1883",
        cfg.base_topic if cfg else "classroom")

    async def provision_page(engine: AsyncEngine, request: web.Request, account: accounts.Account) -> web.Response:
        return await admin_pages.provision_page(engine, request, account, setup)

    async def provision_post(engine: AsyncEngine, request: web.Request, account: accounts.Account) -> web.Response:
        return await admin_pages.provision_post(engine, request, account, setup)

    app.router.add_get("/admin/accounts", _signed_in(engine, admin_pages.accounts_page))
    app.router.add_post("/admin/accounts", _signed_in(engine, admin_pages.accounts_post))
    app.router.add_get("/admin/schools", _signed_in(engine, admin_pages.schools_page))
    app.router.add_post("/admin/schools", _signed_in(engine, admin_pages.schools_post))
    app.router.add_get("/admin/provision", _signed_in(engine, provision_page))
    app.router.add_post("/admin/provision", _signed_in(engine, provision_post))


def _add_dashboard(app: web.Application, engine: AsyncEngine) -> None:
    app[LIVE] = live.Live(engine)
    Page = Callable[[AsyncEngine, web.Request, accounts.Account], Awaitable[web.StreamResponse]]

    def signed_in(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return _signed_in(engine, handler)

    async def live_feed(_engine: AsyncEngine, request: web.Request, _account: accounts.Account) -> web.StreamResponse:
        return await live.stream(app[LIVE], request)

    def public(handler: Callable[[AsyncEngine, web.Request], Awaitable[web.Response]]) -> Callable[
            [web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            return await handler(engine, request)
        return wrapped

    async def start(_app: web.Application) -> None:
        await accounts.ensure_tables(engine)
        await schools.ensure_tables(engine)

    async def close_live(_app: web.Application) -> None:
        await app[LIVE].close()

    app.router.add_get("/", signed_in(dashboard.page))
    app.router.add_get("/dashboard/live", signed_in(live_feed))
    app.router.add_get("/alerts", signed_in(pages.alerts_page))
    app.router.add_post("/alerts/{id}/ack", signed_in(pages.ack_post))
    app.router.add_get("/inventory", signed_in(pages.inventory_page))
    app.router.add_get("/rooms/{site}/{room}", signed_in(room_page.room_page))
    app.router.add_get("/schools/{site}", signed_in(school_page.school_page))
    app.router.add_get("/login", public(pages.login_page))
    app.router.add_post("/login", public(pages.login_post))
    app.router.add_post("/logout", public(pages.logout_post))
    app.on_startup.append(start)
    app.on_shutdown.append(close_live)
