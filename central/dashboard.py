"""The fleet page: every classroom as one coloured cell, rendered on the server.

Plain HTML and a form for filters, so it works without JavaScript; a few lines of script only
subscribe to the live feed (central/live.py). Cells are bare elements with an id and a class:
2,000 classrooms must stay well under 300 KB for a school's slow link.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote, urlencode

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import fleet_filter, fleet_view, i18n, schools
from classroomd.central.accounts import Account
from classroomd.central.fleet_filter import DistrictGroup, Filters
from classroomd.central.fleet_view import Cell, Counts
from classroomd.central.pages import menu

LANG_COOKIE = "lang"
#: one year: the reader chose a language once and should not have to again
LANG_MAX_AGE = 365 * 86400

CSS = """body{font:14px system-ui,sans-serif;margin:0 12px;color:#222}
header{display:flex;flex-wrap:wrap;gap:12px;align-items:baseline}h1{font-size:18px;margin:8px 0}
.n b{font-size:18px}.n{margin-right:14px}form{margin:6px 0}
.r{display:flex;align-items:center;gap:6px;border-top:1px solid #eee;padding:2px 0}
.r>a{width:190px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;font-size:12px;color:#222}
.c a{display:inline-block;width:14px;height:14px;margin:1px;border-radius:2px}h2{font-size:15px;margin:10px 0 2px}
.online{background:#2e9d46}.offline{background:#d62f2f}.stale{background:#e5a000}.unknown{background:#9aa0a6}
.k i{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;border-radius:2px}
#feed{color:#b00;margin:4px 0}#live{color:#666}nav a{margin-right:10px}
"""

# Live updates only: the page is complete without it.
JS = """(function(){var s=document.getElementById('live'),f=document.getElementById('feed');
var es=new EventSource(s.dataset.src);
es.onopen=function(){s.textContent=s.dataset.on;document.body.dataset.live='1'};
es.onerror=function(){s.textContent=s.dataset.off;document.body.dataset.live='0'};
var m={};document.querySelectorAll('.c a').forEach(function(a){m[a.getAttribute('href')]=a});
es.addEventListener('room',function(e){var d=JSON.parse(e.data),c=m[d.h];
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


def room_href(site: str, room: str) -> str:
    return f"/rooms/{quote(site, safe='')}/{quote(room, safe='')}"


def _t(lang: str, key: str) -> str:
    # data-t marks a catalog label, so a test can check every label against the catalog
    return f'<span data-t="{key}">{escape(i18n.text(lang, key))}</span>'


def _counts(lang: str, totals: Counts, shown: int) -> str:
    return (f'<span class=n>{_t(lang, "n_online")}: <b id=n-online>{totals.online}</b>'
            f' / <b id=n-classrooms>{totals.classrooms}</b></span>'
            f'<span class=n>{_t(lang, "n_fault")}: <b id=n-fault>{totals.fault}</b></span>'
            f'<span class=n>{_t(lang, "n_alerts")}: <b id=n-alerts>{totals.alerts}</b></span>'
            f'<span class=n>{_t(lang, "n_shown")}: <b>{shown}</b></span>')


def _select(lang: str, name: str, label_key: str, chosen: str, options: list[tuple[str, str, bool]]) -> str:
    """A select whose options are (value, text, text is a catalog key)."""
    out = []
    for value, shown, is_key in options:
        mark = " selected" if value == chosen else ""
        tag = f'data-t="{shown}"' if is_key else "data-v"
        out.append(f'<option value="{escape(value)}"{mark} {tag}>'
                   f'{escape(i18n.text(lang, shown) if is_key else shown)}</option>')
    return f'<label>{_t(lang, label_key)} <select name={name}>{"".join(out)}</select></label> '


def _form(lang: str, f: Filters, districts: list[str], schools: list[tuple[str, str]], kinds: list[str]) -> str:
    states = [(s, s or "all", True) for s in ("", *fleet_view.STATES)]
    district_options = [("", "all", True), *((d, d, False) for d in districts),
                        (fleet_filter.UNASSIGNED, "unassigned", True)]
    parts = [_select(lang, "district", "district", f.district, district_options)]
    # The school list only once a district is chosen: all of a country's schools would not fit the page.
    if schools:
        parts.append(_select(lang, "site", "school", f.site, [("", "all", True), *((s, n, False) for s, n in schools)]))
    parts += [_select(lang, "kind", "kind", f.kind, [("", "all", True), *((k, k, False) for k in kinds)]),
              _select(lang, "state", "state", f.state, states),
              f'<label>{_t(lang, "search")} <input name=q value="{escape(f.search)}" size=14></label> ',
              _select(lang, "sort", "sort", f.sort, [(s, f"sort_{s}", True) for s in fleet_filter.SORTS])]
    return (f'<form method=get>{"".join(parts)}'
            f'<button data-t="show">{escape(i18n.text(lang, "show"))}</button></form>')


def _languages(lang: str, f: Filters) -> str:
    links = []
    for code in i18n.LANGS:
        query = urlencode({"lang": code, **f.query()})
        mark = ' aria-current="true"' if code == lang else ""
        links.append(f'<a href="?{query}" lang="{code}"{mark} data-v>{i18n.LANG_NAMES[code]}</a>')
    return f'<nav>{_t(lang, "language")}: {" ".join(links)}</nav>'


def _legend(lang: str) -> str:
    return "<p class=k>" + "".join(f'<i class="{s}"></i>{_t(lang, s)}' for s in fleet_view.STATES) + "</p>"


def _grid(lang: str, districts: list[DistrictGroup], now: float) -> str:
    if not districts:
        return f"<p>{_t(lang, 'none')}</p>"
    out: list[str] = []
    for district in districts:
        name = f"<span data-v>{escape(district.name)}</span>" if district.name else _t(lang, "unassigned")
        out.append(f"<h2>{name} <small data-v>{district.online}/{district.rooms}</small></h2>")
        for school in district.schools:
            site_href = f"/schools/{quote(school.site, safe='')}"
            out.append(f'<div class=r><a href="{escape(site_href)}" data-v title="{escape(school.site)}">'
                       f"{escape(school.name)}</a><span class=c>")
            for cell in school.rooms:
                # A link per cell: the room page opens without JavaScript. The link is also the
                # cell's name for the live feed (an id as well would cost 30 KB at 2,000 rooms).
                out.append(f'<a href="{escape(room_href(cell.site, cell.room))}" class={cell.presence} '
                           f'title="{escape(cell_title(lang, cell, now))}"></a>')
            out.append("</span></div>")
    return "".join(out)


@dataclass(frozen=True)
class Choices:
    """What the form offers: districts of the registry, the chosen district's schools, device kinds."""
    districts: list[str] = field(default_factory=list)
    schools: list[tuple[str, str]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def render(lang: str, districts: list[DistrictGroup], totals: Counts, f: Filters, now: float,
           account: Account | None = None, choices: Choices | None = None) -> str:
    choices = choices or Choices()
    shown = sum(d.rooms for d in districts)
    live = (f'<span id=live data-src="/dashboard/live?{urlencode({"lang": lang, "since": f"{now:.3f}"})}" '
            f'data-on="{escape(i18n.text(lang, "live"))}" data-off="{escape(i18n.text(lang, "reconnecting"))}">'
            "</span>")
    title = escape(i18n.text(lang, "title"))
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>{menu(lang, account)}<header><h1 data-t=title>{title}</h1>{live}"
            f"{_languages(lang, f)}</header><div>{_counts(lang, totals, shown)}</div>"
            f"{_form(lang, f, choices.districts, choices.schools, choices.kinds)}{_legend(lang)}<ul id=feed></ul>"
            f"{_grid(lang, districts, now)}<script>{JS}</script></body></html>")


async def page(engine: AsyncEngine, request: web.Request, account: Account) -> web.Response:
    lang = language(request)
    f = Filters.from_query(request.query)
    rooms = await fleet_view.cells(engine)
    totals = await fleet_view.counts(engine, rooms)
    registry = await schools.registry(engine)
    districts = sorted({s.district for s in registry.values() if s.district}, key=str.casefold)
    in_district = sorted(((s.site, s.name) for s in registry.values()
                          if f.district and (s.district or fleet_filter.UNASSIGNED) == f.district),
                         key=lambda p: p[1].casefold())
    kinds = await fleet_view.kinds(engine)
    # What only a filter or an order needs is read only for it: the plain page stays cheap.
    seen = await fleet_view.last_seen(engine) if f.sort == "last_seen" else None
    with_kind = await fleet_view.rooms_with(engine, f.kind) if f.kind else None
    grouped = fleet_filter.arrange(rooms, registry, f, seen, with_kind)
    body = render(lang, grouped, totals, f, time.time(), account, Choices(districts, in_district, kinds))
    response = web.Response(text=body, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})
    response.enable_compression()
    if request.query.get("lang") in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_MAX_AGE, httponly=True, samesite="Lax")
    return response
