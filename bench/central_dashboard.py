"""The fleet page with N classrooms: server time (p50/p99) and bytes, plain and gzip.

The database is filled directly (classrooms, 3 devices each, some open alerts, a school registry
of 10 districts with a few schools left unassigned) so the numbers are the page's own, not the
ingester's. Site ids and school names are as long as real ones (`kz-kyzylorda-0001`,
"№1 жалпы білім беретін мектеп-гимназиясы"). Besides the whole fleet it times a filtered view
(one district, worst first). Usage: python -m bench.central_dashboard [N]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from classroomd.central import accounts, api, schools
from classroomd.central import schema as t
from classroomd.central.db import open_database
from classroomd.central.schools import School
from tests.support.mosquitto import free_port

STATES = ["online"] * 90 + ["offline"] * 6 + ["stale"] * 2 + ["unknown"] * 2


async def fill(url: str, n: int) -> None:
    engine = await open_database(url)
    now = time.time()
    rooms, devices, alerts = [], [], []
    for i in range(n):
        site, room = f"kz-kyzylorda-{i // 4 + 1:04d}", f"room-{i % 4 + 1}"
        state = random.choice(STATES)
        rooms.append({"site": site, "room": room, "presence": state, "since": now - random.uniform(0, 86400),
                      "last_seen": now, "first_seen": now - 86400})
        for dev in ("panel-front", "scope-1", "tablet-1"):
            devices.append({"site": site, "room": room, "id": dev, "kind": dev.split("-")[0], "status": "ready",
                            "availability": state, "since": now, "first_seen": now, "last_seen": now,
                            "gone": False})
        if state == "offline":
            alerts.append({"key": f"{site}/{room}/classroom_offline", "source": "central", "site": site,
                           "room": room, "device": "", "code": "classroom_offline", "severity": "critical",
                           "message": '{"en": "offline"}', "raised": now})
    async with engine.begin() as conn:
        await conn.execute(t.classrooms.insert(), rooms)
        await conn.execute(t.devices.insert(), devices)
        await conn.execute(t.alerts.insert(), alerts)
    await accounts.ensure_tables(engine)
    await accounts.set_account(engine, "bench", "viewer", "bench-password")
    await schools.ensure_tables(engine)
    await schools.save(engine, [School(f"kz-kyzylorda-{s:04d}", f"Ауданы {s % 10 + 1}",
                                       f"№{s} жалпы білім беретін мектеп-гимназиясы")
                                for s in range(1, n // 4 + 1) if s % 20])
    await engine.dispose()


async def main(n: int, rounds: int = 60) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'central.sqlite3'}"
        await fill(url, n)
        engine = await open_database(url)
        runner = web.AppRunner(api.build_app(engine, "token", None), access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), auto_decompress=False) as http:
            async with http.post(base + "/login", data={"name": "bench", "password": "bench-password"}) as r:
                assert r.status == 200, r.status
            for gzip in (False, True):
                headers = {"Accept-Encoding": "gzip" if gzip else "identity"}
                async with http.get(base + "/?lang=kk", headers=headers) as r:
                    size = len(await r.read())
                print(f"fleet page, {n} classrooms, {'gzip' if gzip else 'plain'}: {size / 1024:.1f} KB")
            one_district = "/?" + urlencode({"district": "Ауданы 3", "sort": "state"})
            by_kind = "/?" + urlencode({"kind": "scope", "sort": "last_seen"})
            for what, path in (("whole fleet", "/"), ("one district, worst first", one_district),
                               ("rooms with a microscope, longest silent first", by_kind)):
                times: list[float] = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    async with http.get(base + path, headers={"Accept-Encoding": "gzip"}) as r:
                        await r.read()
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                print(f"{what}: server time over {rounds} requests: p50 {statistics.median(times):.1f} ms, "
                      f"p99 {times[int(len(times) * 0.99) - 1]:.1f} ms, max {times[-1]:.1f} ms")
        await runner.cleanup()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
