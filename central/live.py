"""The fleet page's live feed (server-sent events).

One poller per API process reads the light fleet view from the database and hands the
differences to every open page. Reading the database, not the ingester's memory, keeps the
API processes separate from the one that ingests (role = api scales out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import fleet_view, i18n
from classroomd.central.dashboard import cell_title, room_href
from classroomd.central.fleet_view import Cell, Counts, NewAlert

log = logging.getLogger("classroomd.central.live")

#: a comment line this often keeps proxies and the browser from closing an idle stream
HEARTBEAT_S = 15.0


@dataclass(frozen=True)
class Change:
    cell: Cell | None = None
    counts: Counts | None = None
    alert: NewAlert | None = None


class Live:
    def __init__(self, engine: AsyncEngine, interval_s: float = 1.0) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self.cells: dict[str, Cell] = {}
        self.subscribers: set[asyncio.Queue[Change]] = set()
        self._task: asyncio.Task[None] | None = None
        self._counts: Counts | None = None
        self._last_alert = -1

    async def subscribe(self) -> asyncio.Queue[Change]:
        if self._task is None:
            # The first page's catch-up needs a current view before the poller's first round.
            await self.poll()
            self._task = asyncio.create_task(self._run(), name="central-live")
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=10000)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        self.subscribers.discard(queue)

    async def close(self) -> None:
        # An empty change ends every open stream, so the server's shutdown does not wait on them.
        for queue in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(Change())
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except Exception:
                log.exception("live feed: reading the fleet failed; trying again")

    async def poll(self) -> None:
        rooms = await fleet_view.cells(self.engine)
        counts = await fleet_view.counts(self.engine, rooms)
        changes: list[Change] = []
        first = self._last_alert < 0
        for cell in rooms:
            if not first and self.cells.get(cell.key) != cell:
                changes.append(Change(cell=cell))
            self.cells[cell.key] = cell
        if counts != self._counts:
            changes.append(Change(counts=counts))
            self._counts = counts
        if first:
            self._last_alert = await fleet_view.last_alert(self.engine)
        else:
            for alert in await fleet_view.alerts_after(self.engine, self._last_alert):
                changes.append(Change(alert=alert))
                self._last_alert = alert.pk
        for queue in list(self.subscribers):
            for change in changes:
                if queue.full():
                    # A page that cannot keep up is dropped; its browser reconnects and catches up.
                    self.subscribers.discard(queue)
                    break
                queue.put_nowait(change)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def encode(change: Change, lang: str, now: float) -> bytes:
    if change.cell is not None:
        cell = change.cell
        return _event("room", {"k": cell.key, "h": room_href(cell.site, cell.room), "s": cell.presence,
                               "t": cell_title(lang, cell, now)})
    if change.counts is not None:
        c = change.counts
        return _event("counts", {"online": c.online, "classrooms": c.classrooms, "fault": c.fault,
                                 "alerts": c.alerts})
    assert change.alert is not None
    a = change.alert
    try:
        message = json.loads(a.message or "{}")
    except ValueError:
        message = {}
    said = message.get(lang) or message.get("en") or a.code if isinstance(message, dict) else a.code
    return _event("alert", {"site": a.site, "room": a.room, "severity": a.severity,
                            "t": f"{i18n.text(lang, 'new_alert')}: {a.site}/{a.room} · {said}"})


async def stream(live: Live, request: web.Request) -> web.StreamResponse:
    lang = i18n.pick(request.query.get("lang"))
    try:
        rendered_at = float(request.query.get("since", "0"))
    except ValueError:
        rendered_at = 0.0
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    queue = await live.subscribe()
    try:
        # What changed between the page's render and this subscription; the browser's own
        # reconnects land here too, with the page's render time, so nothing is missed.
        for cell in list(live.cells.values()):
            if cell.since >= rendered_at - 1:
                await response.write(encode(Change(cell=cell), lang, time.time()))
        await response.write(b": ok\n\n")
        while True:
            try:
                change = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": .\n\n")
                continue
            if change == Change():
                break
            await response.write(encode(change, lang, time.time()))
    except ConnectionResetError:
        pass
    finally:
        live.unsubscribe(queue)
    return response
