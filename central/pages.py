"""Sign-in, the alerts page (with acknowledge) and the inventory page; all server-rendered."""

from __future__ import annotations

import calendar
import json
import time
from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import accounts, i18n, queries
from classroomd.central.accounts import Account

SESSION_COOKIE = "session"
PAGE_CSS = """body{font:14px system-ui,sans-serif;margin:0 12px;color:#222}h1{font-size:18px;margin:8px 0}
nav{margin:6px 0}nav a{margin-right:10px}table{border-collapse:collapse}td,th{padding:3px 8px;
border-bottom:1px solid #eee;text-align:left;vertical-align:top}.critical{color:#b00;font-weight:600}
.warning{color:#a60}.err{color:#b00}.ok{color:#2e7d32}.online{color:#2e7d32}.offline{color:#b00}
.stale{color:#a60}"""


def t(lang: str, key: str) -> str:
    # data-t marks a catalog label, so a test can check every label against the catalog
    return f'<span data-t="{key}">{escape(i18n.text(lang, key))}</span>'


def menu(lang: str, account: Account | None) -> str:
    pages = [("/", "nav_fleet"), ("/alerts", "nav_alerts"), ("/inventory", "nav_inventory")]
    if account is not None and account.role == "admin":
        pages += [("/admin/accounts", "nav_accounts"), ("/admin/schools", "nav_schools"),
                  ("/admin/provision", "nav_provision")]
    links = "".join(f'<a href="{href}">{t(lang, key)}</a>' for href, key in pages)
    who = ""
    if account is not None:
        who = (f'<form method=post action="/logout" style="display:inline"><span data-v>{escape(account.name)}'
               f'</span> <button data-t=logout>{escape(i18n.text(lang, "logout"))}</button></form>')
    return f"<nav>{links}{who}</nav>"


def shell(lang: str, title_key: str, body: str, account: Account | None) -> str:
    title = escape(i18n.text(lang, title_key))
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>'
            f"<style>{PAGE_CSS}</style></head><body>{menu(lang, account)}<h1 data-t={title_key}>{title}</h1>"
            f"{body}</body></html>")


def html(body: str, status: int = 200) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})
    response.enable_compression()
    return response


def language(request: web.Request) -> str:
    return i18n.pick(request.query.get("lang") or request.cookies.get("lang"))


async def current(engine: AsyncEngine, request: web.Request) -> Account | None:
    return await accounts.session(engine, request.cookies.get(SESSION_COOKIE))


def to_login(request: web.Request) -> web.HTTPFound:
    return web.HTTPFound("/login?next=" + quote(request.path_qs, safe=""))


def same_origin(request: web.Request) -> bool:
    """A form post must come from a page of this server (the session cookie alone is not enough)."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


# --- sign in ---------------------------------------------------------------------------
def _login_form(lang: str, next_url: str, failed: bool) -> str:
    error = f'<p class=err>{t(lang, "bad_login")}</p>' if failed else ""
    return shell(lang, "login", f'{error}<form method=post action="/login?next={quote(next_url, safe="")}">'
                 f'<p><label>{t(lang, "name")}<br><input name=name autocomplete=username required></label></p>'
                 f'<p><label>{t(lang, "password")}<br><input name=password type=password '
                 f'autocomplete=current-password required></label></p>'
                 f'<p><button data-t=login>{escape(i18n.text(lang, "login"))}</button></p></form>', None)


def _safe_next(request: web.Request) -> str:
    target = request.query.get("next", "/")
    # Only a path on this server: never an open redirect to another site.
    return target if target.startswith("/") and not target.startswith("//") else "/"


async def login_page(engine: AsyncEngine, request: web.Request) -> web.Response:
    return html(_login_form(language(request), _safe_next(request), False))


async def login_post(engine: AsyncEngine, request: web.Request) -> web.Response:
    form = await request.post()
    token = await accounts.login(engine, str(form.get("name", "")), str(form.get("password", "")))
    if token is None:
        return html(_login_form(language(request), _safe_next(request), True), 401)
    response = web.HTTPFound(_safe_next(request))
    response.set_cookie(SESSION_COOKIE, token, max_age=accounts.SESSION_S, httponly=True, samesite="Lax")
    raise response


async def logout_post(engine: AsyncEngine, request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token and same_origin(request):
        await accounts.logout(engine, token)
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE)
    raise response


# --- alerts ------------------------------------------------------------------------------
def _message(lang: str, alert: dict[str, Any]) -> str:
    said = alert["message"]
    if isinstance(said, dict):
        return str(said.get(lang) or said.get("en") or alert["code"])
    return str(alert["code"])


def ago(lang: str, iso_ts: str | None, now: float) -> str:
    if iso_ts is None:
        return ""
    when = calendar.timegm(time.strptime(iso_ts, "%Y-%m-%dT%H:%M:%SZ"))
    # data-d marks a duration: words from the catalog around numbers
    return f'<span data-d>{escape(i18n.text(lang, "ago").format(duration=i18n.duration(lang, now - when)))}</span>'


def _alert_row(lang: str, alert: dict[str, Any], account: Account, now: float) -> str:
    where = "/".join(x for x in (alert["site"], alert["room"], alert["device"]) if x)
    severity = alert["severity"] if alert["severity"] in ("info", "warning", "critical") else "warning"
    if alert["ack"] is not None:
        ack = alert["ack"]
        action = (f'{t(lang, "acked")}: <span data-v>{escape(str(ack["by"]))} · {escape(str(ack["note"] or ""))}'
                  f"</span>")
    elif alert["active"] and account.can_ack:
        action = (f'<form method=post action="/alerts/{alert["id"]}/ack"><input name=note size=18 '
                  f'aria-label="{escape(i18n.text(lang, "note"))}" placeholder="{escape(i18n.text(lang, "note"))}">'
                  f' <button data-t=ack>{escape(i18n.text(lang, "ack"))}</button></form>')
    else:
        action = ""
    cleared = f'<br>{t(lang, "cleared")}: {ago(lang, alert["cleared"], now)}' if alert["cleared"] else ""
    return (f'<tr id="alert-{alert["id"]}"><td class={severity}>{t(lang, severity)}</td>'
            f'<td data-v>{escape(where)}</td><td data-v>{escape(_message(lang, alert))}</td>'
            f'<td title="{alert["raised"]}">{ago(lang, alert["raised"], now)}{cleared}</td><td>{action}</td></tr>')


def _alert_table(lang: str, rows: list[dict[str, Any]], account: Account, now: float) -> str:
    head = "".join(f"<th>{t(lang, k)}</th>" for k in ("severity", "where", "message", "since", "ack"))
    body = "".join(_alert_row(lang, a, account, now) for a in rows) or f'<tr><td colspan=5>{t(lang, "none")}</td></tr>'
    return f"<table><tr>{head}</tr>{body}</table>"


async def alerts_page(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    found = await queries.alerts(engine, False, request.query.get("site"), 500)
    rank = {"critical": 0, "warning": 1, "info": 2}
    # Open alerts first, the most severe and then the oldest at the top; history newest first.
    open_ = sorted((a for a in found if a["active"]), key=lambda a: (rank.get(a["severity"], 1), a["raised"]))
    history = [a for a in found if not a["active"]]
    now = time.time()
    forbidden = f'<p class=err>{t(lang, "forbidden")}</p>' if request.query.get("denied") else ""
    body = (f'{forbidden}<h2>{t(lang, "open")}</h2>{_alert_table(lang, open_, account, now)}'
            f'<h2>{t(lang, "history")}</h2>{_alert_table(lang, history[:200], account, now)}')
    return html(shell(lang, "alerts_title", body, account))


async def ack_post(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    if not account.can_ack or not same_origin(request):
        return html(shell(language(request), "alerts_title", f'<p class=err>{t(language(request), "forbidden")}</p>',
                          account), 403)
    try:
        pk = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    form = await request.post()
    note = str(form.get("note", "")).strip()[:500] or None
    if await queries.ack_alert(engine, pk, account.name, note) is None:
        raise web.HTTPNotFound()
    raise web.HTTPSeeOther(f"/alerts#alert-{pk}")


# --- inventory ---------------------------------------------------------------------------
INVENTORY_COLUMNS = (("site", "school"), ("room", "room"), ("id", "device"), ("kind", "kind"),
                     ("model", "model"), ("serial", "serial"), ("availability", "state"),
                     ("last_seen", "last_seen"))


async def inventory_page(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    rows = await queries.inventory(engine, False)
    head = "".join(f"<th>{t(lang, key)}</th>" for _, key in INVENTORY_COLUMNS)
    lines = []
    for row in rows:
        cells = []
        for field, _ in INVENTORY_COLUMNS:
            value = row[field]
            if field == "availability" and value in ("online", "offline", "stale", "unknown"):
                cells.append(f"<td>{t(lang, value)}</td>")
            else:
                cells.append(f"<td data-v>{escape(json.dumps(value) if isinstance(value, bool) else str(value or ''))}"
                             "</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    body = (f'<p><a href="/api/v1/inventory.csv" download>{t(lang, "csv")}</a></p>'
            f"<table><tr>{head}</tr>{''.join(lines)}</table>")
    return html(shell(lang, "inventory_title", body, account))
