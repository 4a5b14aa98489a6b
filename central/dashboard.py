"""The fleet page: every classroom as one coloured cell, rendered on the server.

Plain HTML and a form for filters, so it works without JavaScript; a few lines of script only
subscribe to the live feed (central/live.py). Cells are bare elements with an id and a class:
2,000 classrooms must stay well under 300 KB for a school's slow link.
"""

from __future__ import annotations

import time
from html import escape
from urllib.parse import quote, urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import fleet_view, i18n
from classroomd.central.accounts import Account
from classroomd.central.fleet_view import Cell, Counts
from classroomd.central.pages import menu

LANG_COOKIE = "lang"
#: one year: the reader chose a language once and should not have to again
LANG_MAX_AGE = 365 * 86400

CSS = """body{font:14px system-ui,sans-serif;margin:0 12px;color:#222}
header{display:flex;flex-wrap:wrap;gap:12px;align-items:baseline}h1{font-size:18px;margin:8px 0}
.n b{font-size:18px}.n{margin-right:14px}form{margin:6px 0}
.r{display:flex;align-items:center;gap:6px;border-top:1px solid #eee;padding:2px 0}
.r>b{font-weight:500;width:150px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;font-size:12px}
.r a{display:inline-block;width:14px;height:14px;margin:1px;border-radius:2px}
.online{background:#2e9d46}.offline{background:#d62f2f}.stale{background:#e5a000}.unknown{background:#9aa0a6}
.k i{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;border-radius:2px}
#feed{color:#b00;margin:4px 0}#live{color:#666}
"""

# Live updates only: the page is complete without it.
JS = """(function(){var s=document.getElementById('live'),f=document.getElementById('feed');
var es=new EventSource(s.dataset.src);
es.onopen=function(){s.textContent=s.dataset.on;document.body.dataset.live='1'};
es.onerror=function(){s.textContent=s.dataset.off;document.body.dataset.live='0'};
es.addEventListener('room',function(e){var d=JSON.parse(e.data),c=document.getElementById(d.k);
if(c){c.className=d.s;c.title=d.t}});
es.addEventListener('counts',function(e){var d=JSON.parse(e.data);
for(var k in d){var n=document.getElementById('n-'+k);if(n)n.textContent=d[k]}});
es.addEventListener('alert',function(e){var d=JSON.parse(e.data),li=document.createElement('li');
li.textContent=d.t;f.insertBefore(li,f.firstChild);while(f.children.length>5)f.removeChild(f.lastChild)});
})();"""


def language(request: web.Request) -> str:
    return i18n.pick(request.query.get("lang") or request.cookies.get(LANG_COOKIE))


def cell_title(lang: str, cell: Cell, now: float) -> str:
    state = i18n.text(lang, cell.presence)
    if cell.presence in ("offline", "stale"):
        state = i18n.text(lang, "for").format(state=state, duration=i18n.duration(lang, now - cell.since))
    return f"{cell.room} · {state}"


def _t(lang: str, key: str) -> str:
    # data-t marks a catalog label, so a test can check every label against the catalog
    return f'<span data-t="{key}">{escape(i18n.text(lang, key))}</span>'


def _counts(lang: str, totals: Counts, shown: int) -> str:
    return (f'<span class=n>{_t(lang, "n_online")}: <b id=n-online>{totals.online}</b>'
            f' / <b id=n-classrooms>{totals.classrooms}</b></span>'
            f'<span class=n>{_t(lang, "n_fault")}: <b id=n-fault>{totals.fault}</b></span>'
            f'<span class=n>{_t(lang, "n_alerts")}: <b id=n-alerts>{totals.alerts}</b></span>'
            f'<span class=n>{_t(lang, "n_shown")}: <b>{shown}</b></span>')


def _form(lang: str, state: str, search: str) -> str:
    options = "".join(f'<option value="{s}"{" selected" if s == state else ""} data-t="{s or "all"}">'
                      f'{escape(i18n.text(lang, s or "all"))}</option>' for s in ("", *fleet_view.STATES))
    return (f'<form method=get><label>{_t(lang, "state")} <select name=state>{options}</select></label> '
            f'<label>{_t(lang, "school")} <input name=q value="{escape(search)}" size=14></label> '
            f'<button data-t="show">{escape(i18n.text(lang, "show"))}</button></form>')


def _languages(lang: str, state: str, search: str) -> str:
    links = []
    for code in i18n.LANGS:
        query = urlencode({k: v for k, v in (("lang", code), ("state", state), ("q", search)) if v})
        mark = ' aria-current="true"' if code == lang else ""
        links.append(f'<a href="?{query}" lang="{code}"{mark} data-v>{i18n.LANG_NAMES[code]}</a>')
    return f'<nav>{_t(lang, "language")}: {" ".join(links)}</nav>'


def _legend(lang: str) -> str:
    return "<p class=k>" + "".join(f'<i class="{s}"></i>{_t(lang, s)}' for s in fleet_view.STATES) + "</p>"


def _grid(lang: str, rooms: list[Cell], now: float) -> str:
    if not rooms:
        return f"<p>{_t(lang, 'none')}</p>"
    out: list[str] = []
    site = None
    for cell in rooms:
        if cell.site != site:
            if site is not None:
                out.append("</span></div>")
            site = cell.site
            out.append(f'<div class=r><b data-v title="{escape(site)}">{escape(site)}</b><span>')
        # A link per cell: the room page opens without JavaScript.
        href = f"/rooms/{quote(cell.site, safe='')}/{quote(cell.room, safe='')}"
        out.append(f'<a id="{escape(cell.key)}" href="{escape(href)}" class={cell.presence} '
                   f'title="{escape(cell_title(lang, cell, now))}"></a>')
    out.append("</span></div>")
    return "".join(out)


def render(lang: str, rooms: list[Cell], totals: Counts, state: str, search: str, now: float,
           account: Account | None = None) -> str:
    shown = [c for c in rooms if (not state or c.presence == state) and (not search or search in c.site.lower())]
    live = (f'<span id=live data-src="/dashboard/live?{urlencode({"lang": lang, "since": f"{now:.3f}"})}" '
            f'data-on="{escape(i18n.text(lang, "live"))}" data-off="{escape(i18n.text(lang, "reconnecting"))}">'
            "</span>")
    title = escape(i18n.text(lang, "title"))
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>{menu(lang, account)}<header><h1 data-t=title>{title}</h1>{live}"
            f"{_languages(lang, state, search)}</header><div>{_counts(lang, totals, len(shown))}</div>"
            f"{_form(lang, state, search)}{_legend(lang)}<ul id=feed></ul>{_grid(lang, shown, now)}"
            f"<script>{JS}</script></body></html>")


async def page(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    state = request.query.get("state", "")
    state = state if state in fleet_view.STATES else ""
    search = request.query.get("q", "").strip().lower()[:100]
    rooms = await fleet_view.cells(engine)
    totals = await fleet_view.counts(engine, rooms)
    body = render(lang, rooms, totals, state, search, time.time(), account)
    response = web.Response(text=body, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})
    response.enable_compression()
    if request.query.get("lang") in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_MAX_AGE, httponly=True, samesite="Lax")
    return response
