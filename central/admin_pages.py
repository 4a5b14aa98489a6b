"""Admin pages: accounts, the school registry, and adding a classroom to the broker.

Admins only: anybody else gets 403 (and sees no link to them, pages.menu). Every change is a
same-origin form post, so the pages work without JavaScript like the rest of the dashboard.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import accounts, i18n, schools
from classroomd.central import schema as t
from classroomd.central.accounts import Account, AccountError
from classroomd.central.pages import html, language, same_origin, shell
from classroomd.central.pages import t as label
from classroomd.central.provision import BrokerAuth, ProvisionError, config_stanza
from classroomd.central.schools import School, SchoolsError


@dataclass(frozen=True)
class Provisioning:
    """Where the broker's password file and ACL live, and the broker URL classrooms are given."""
    directory: Path | None
    broker: str
    base_topic: str = "classroom"


def _denied(lang: str, title_key: str, account: Account) -> web.Response:
    return html(shell(lang, title_key, f'<p class=err>{label(lang, "forbidden")}</p>', account), 403)


def _allowed(request: web.Request, account: Account) -> bool:
    return account.role == "admin" and (request.method == "GET" or same_origin(request))


def _note(lang: str, key: str | None, error: bool = True) -> str:
    return f'<p class={"err" if error else "ok"}>{label(lang, key)}</p>' if key else ""


def _button(lang: str, key: str) -> str:
    return f'<button data-t={key}>{escape(i18n.text(lang, key))}</button>'


def _hidden(**fields: str) -> str:
    return "".join(f'<input type=hidden name={k} value="{escape(v)}">' for k, v in fields.items())


def _role_select(lang: str, chosen: str) -> str:
    options = "".join(f'<option value={r}{" selected" if r == chosen else ""} data-t={r}>'
                      f"{escape(i18n.text(lang, r))}</option>" for r in accounts.ROLES)
    return f'<select name=role aria-label="{escape(i18n.text(lang, "role"))}">{options}</select>'


# --- accounts ----------------------------------------------------------------------------
async def _accounts_body(engine: AsyncEngine, lang: str, account: Account, note: str, shown: str | None) -> str:
    rows = []
    for row in await accounts.listing(engine):
        state = "disabled" if row.disabled else "active"
        created = time.strftime("%Y-%m-%d", time.gmtime(row.created))
        actions = ""
        if row.name != account.name:  # an admin cannot lock themselves out
            actions = (f'<form method=post style="display:inline">{_hidden(do="role", name=row.name)}'
                       f'{_role_select(lang, row.role)} {_button(lang, "set_role")}</form> '
                       f'<form method=post style="display:inline">{_hidden(do="disable", name=row.name)}'
                       f'{_button(lang, "disable")}</form> ')
        actions += (f'<form method=post style="display:inline">{_hidden(do="reset", name=row.name)}'
                    f'{_button(lang, "reset_password")}</form>')
        rows.append(f'<tr id="account-{escape(row.name)}"><td data-v>{escape(row.name)}</td>'
                    f"<td>{label(lang, row.role)}</td><td>{label(lang, state)}</td><td data-v>{created}</td>"
                    f"<td>{actions}</td></tr>")
    head = "".join(f"<th>{label(lang, k)}</th>" for k in ("name", "role", "state", "created")) + "<th></th>"
    once = (f'<p>{label(lang, "password_once")} <code id=once data-v>{escape(shown)}</code></p>'
            if shown else "")
    create = (f'<h2>{label(lang, "new_account")}</h2><form method=post>{_hidden(do="create")}'
              f'<label>{label(lang, "name")} <input name=name required maxlength=64></label> '
              f'{_role_select(lang, "viewer")} '
              f'<label>{label(lang, "password")} <input name=password type=password minlength=8 '
              f'autocomplete=new-password placeholder="{escape(i18n.text(lang, "password_blank"))}"></label> '
              f'{_button(lang, "create")}</form>')
    return f"{note}{once}<table><tr>{head}</tr>{''.join(rows)}</table>{create}"


async def accounts_page(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    if not _allowed(request, account):
        return _denied(lang, "accounts_title", account)
    return html(shell(lang, "accounts_title", await _accounts_body(engine, lang, account, "", None), account))


async def accounts_post(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    if not _allowed(request, account):
        return _denied(lang, "accounts_title", account)
    form = await request.post()
    do, name = str(form.get("do", "")), str(form.get("name", "")).strip()
    error: str | None = None
    shown: str | None = None
    if do == "create":
        password = str(form.get("password", "")) or secrets.token_urlsafe(12)
        if not name or len(name) > 64:
            error = "err_name"
        elif len(password) < 8:
            error = "err_password"
        elif await accounts.exists(engine, name):
            error = "err_exists"
        else:
            try:
                await accounts.set_account(engine, name, str(form.get("role", "viewer")), password)
            except AccountError:
                raise web.HTTPBadRequest() from None
            shown = password if not form.get("password") else None
    elif not await accounts.exists(engine, name):
        error = "err_missing"
    elif do in ("role", "disable") and name == account.name:
        error = "err_self"
    elif do == "role":
        try:
            await accounts.set_role(engine, name, str(form.get("role", "")))
        except AccountError:
            raise web.HTTPBadRequest() from None
    elif do == "disable":
        await accounts.disable(engine, name)
    elif do == "reset":
        shown = secrets.token_urlsafe(12)
        await accounts.set_password(engine, name, shown)
    else:
        raise web.HTTPBadRequest()
    note = _note(lang, error) if error else _note(lang, "saved", error=False)
    body = await _accounts_body(engine, lang, account, note, shown)
    return html(shell(lang, "accounts_title", body, account), 400 if error else 200)


# --- school registry ---------------------------------------------------------------------
async def _unregistered(engine: AsyncEngine, known: set[str]) -> list[str]:
    async with engine.connect() as conn:
        sites = (await conn.execute(select(t.classrooms.c.site).distinct().order_by(t.classrooms.c.site))).scalars()
        return [s for s in sites if s not in known]


def _school_form(lang: str, school: School | None, site: str = "") -> str:
    site = school.site if school else site
    return (f'<form method=post style="display:inline">{_hidden(do="save")}'
            f'<input name=site value="{escape(site)}" required maxlength=128 '
            f'aria-label="{escape(i18n.text(lang, "site"))}" placeholder="{escape(i18n.text(lang, "site"))}"> '
            f'<input name=district value="{escape(school.district if school else "")}" maxlength=200 '
            f'aria-label="{escape(i18n.text(lang, "district"))}" '
            f'placeholder="{escape(i18n.text(lang, "district"))}"> '
            f'<input name=name value="{escape(school.name if school else "")}" maxlength=200 size=30 '
            f'aria-label="{escape(i18n.text(lang, "school"))}" placeholder="{escape(i18n.text(lang, "school"))}"> '
            f'{_button(lang, "save")}</form>')


async def _schools_body(engine: AsyncEngine, lang: str, note: str) -> str:
    registry = await schools.registry(engine)
    rows = "".join(
        f'<tr id="school-{escape(s.site)}"><td>{_school_form(lang, s)} '
        f'<form method=post style="display:inline">{_hidden(do="delete", site=s.site)}{_button(lang, "delete")}'
        "</form></td></tr>"
        for s in sorted(registry.values(), key=lambda s: (s.district.casefold(), s.name.casefold())))
    missing = await _unregistered(engine, set(registry))
    unregistered = "".join(f"<li>{_school_form(lang, None, site)}</li>" for site in missing)
    return (f'{note}<h2>{label(lang, "import_csv")}</h2><form method=post enctype="multipart/form-data">'
            f'{_hidden(do="import")}<label>{label(lang, "csv_file")} <input type=file name=file accept=".csv,text/csv"'
            f' required></label> {_button(lang, "import_csv")}</form>'
            f'<h2>{label(lang, "nav_schools")}</h2><table><tr><td>{_school_form(lang, None)}</td></tr>{rows}</table>'
            + (f'<h2>{label(lang, "unregistered")}</h2><ul>{unregistered}</ul>' if unregistered else ""))


async def schools_page(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    if not _allowed(request, account):
        return _denied(lang, "schools_title", account)
    return html(shell(lang, "schools_title", await _schools_body(engine, lang, ""), account))


async def schools_post(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    if not _allowed(request, account):
        return _denied(lang, "schools_title", account)
    form = await request.post()
    do = str(form.get("do", ""))
    note = _note(lang, "saved", error=False)
    try:
        if do == "save":
            await schools.save(engine, [schools.check(str(form.get("site", "")), str(form.get("district", "")),
                                                      str(form.get("name", "")))])
        elif do == "delete":
            await schools.remove(engine, str(form.get("site", "")))
        elif do == "import":
            upload = form.get("file")
            raw = upload.file.read() if isinstance(upload, web.FileField) else str(upload or "").encode()
            rows = schools.parse_csv(raw.decode("utf-8", errors="replace"))
            await schools.save(engine, rows)
            note = f'<p class=ok>{label(lang, "imported")}: <b data-v>{len(rows)}</b></p>'
        else:
            raise web.HTTPBadRequest()
    except SchoolsError as exc:
        said = "".join(f"<li data-v>{escape(p.say(lang))}</li>" for p in exc.problems)
        head = label(lang, "not_imported") if do == "import" else ""
        note = f"<div class=err>{head}<ul id=problems>{said}</ul></div>"
        return html(shell(lang, "schools_title", await _schools_body(engine, lang, note), account), 400)
    return html(shell(lang, "schools_title", await _schools_body(engine, lang, note), account))


# --- provisioning ------------------------------------------------------------------------
def _provision_form(lang: str, site: str = "", room: str = "") -> str:
    return (f'<form method=post><label>{label(lang, "site")} <input name=site value="{escape(site)}" required '
            f'maxlength=128></label> <label>{label(lang, "room")} <input name=room value="{escape(room)}" required '
            f'maxlength=128></label> {_button(lang, "provision")}</form>')


async def provision_page(engine: AsyncEngine, request: web.Request, account: Account,
                         setup: Provisioning) -> web.Response:
    lang = language(request)
    if not _allowed(request, account):
        return _denied(lang, "provision_title", account)
    body = _note(lang, "not_set_up") if setup.directory is None else _provision_form(lang)
    return html(shell(lang, "provision_title", body, account))


async def provision_post(engine: AsyncEngine, request: web.Request, account: Account,
                         setup: Provisioning) -> web.Response:
    lang = language(request)
    if not _allowed(request, account):
        return _denied(lang, "provision_title", account)
    if setup.directory is None:
        return html(shell(lang, "provision_title", _note(lang, "not_set_up"), account), 409)
    form = await request.post()
    site, room = str(form.get("site", "")).strip(), str(form.get("room", "")).strip()
    auth = BrokerAuth(setup.directory, setup.base_topic)
    try:
        # mosquitto_passwd is a child process: off the event loop, the live feed keeps going.
        creds = await asyncio.to_thread(auth.provision, site, room)
    except ProvisionError as exc:
        key = "err_segment" if "no spaces" in str(exc) else "err_broker"
        detail = "" if key == "err_segment" else f"<p data-v>{escape(str(exc))}</p>"
        return html(shell(lang, "provision_title", _note(lang, key) + detail + _provision_form(lang, site, room),
                          account), 400)
    stanza = config_stanza(site, room, setup.broker, creds, setup.base_topic)
    download = f"data:text/plain;charset=utf-8,{quote(stanza)}"
    body = (f'<p>{label(lang, "provision_once")}</p><pre id=stanza data-v>{escape(stanza)}</pre>'
            f'<p><a href="{escape(download)}" download="classroomd-{escape(site)}-{escape(room)}.toml">'
            f'{label(lang, "download")}</a></p><p>{label(lang, "provision_conf")}</p>'
            f"<pre data-v>{escape(auth.mosquitto_conf())}</pre>{_provision_form(lang)}")
    return html(shell(lang, "provision_title", body, account))
