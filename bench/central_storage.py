"""Central's storage per classroom-day: a demo-like classroom (six devices, health every 30 s,
~1,500 events a day) through the ingest's handlers, raw and after retention thins the health
samples to one an hour.

Run: .venv/bin/python bench/central_storage.py
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from classroomd.central import retention, store
from classroomd.central.alerts import AlertBook
from classroomd.central.batch import Batch
from classroomd.central.db import open_database
from classroomd.central.fleet import Fleet
from classroomd.central.handlers import Handlers
from classroomd.central.schema import metadata
from tests.central.postgres import PostgresServer, pg_bin_dir

DAY = 86400.0
START = 1_800_000_000.0
DEVICES = {"panel-front": "ready", "scope-1": "ready", "printer-1": "ready", "tablet-1": "ready",
           "table-1": "ready", "globe-1": "ready"}
ROOT = "classroom/kz-kyzylorda-095/biology"
#: enough classroom-days that page granularity (4–8 KB) does not dominate
ROOMS = 20


def health(seq: int) -> bytes:
    usage = {d: {"active_min": round(seq * 0.2, 2), "events_per_min": 3, "last_activity": "2027-01-15T09:59:40Z"}
             for d in ("tablet-1", "table-1", "globe-1")}
    # A few status changes a day, as a printer finishing jobs or a tablet unplugged would make.
    devices = {**DEVICES, "printer-1": "busy" if 400 < seq % 960 < 520 else "ready"}
    body = {"seq": seq, "session": 12, "ts": "2027-01-15T10:00:00Z", "msg_id": f"12:{seq}:agent/health",
            "status": "ok", "uptime_s": 30.0 * seq, "outbox_depth": 0, "outbox_dropped": 0, "devices": devices,
            "connected_broker": "mqtt://10.0.0.2:1883", "alerts": 0, "lesson": "bio-7a-0915", "usage": usage}
    return json.dumps(body).encode()


def event(seq: int) -> bytes:
    return json.dumps({"seq": seq, "session": 12, "ts": "2027-01-15T10:00:00Z",
                       "msg_id": f"12:{seq}:tablet-1/event/activity", "events": 42, "lesson": "bio-7a-0915"}).encode()


def one_day(kind: str) -> Batch:
    """A day of ROOMS classrooms' messages through the ingest's own handlers, on a simulated clock."""
    handlers = Handlers(Fleet(), AlertBook(), "classroom")
    batch = Batch()
    for r in range(ROOMS):
        root = f"{ROOT}-{r}"
        birth = {"state": "online", "session": 12, "version": "0.1.0", "host": "pc", "started": "x", "http": "y"}
        handlers.handle(f"{root}/agent", json.dumps(birth).encode(), START, batch)
        if kind == "health":
            for i in range(2880):
                handlers.handle(f"{root}/agent/health", health(i + 1), START + 30 * i, batch)
        else:
            for i in range(1500):
                handlers.handle(f"{root}/tablet-1/event/activity", event(i + 1), START + 57.6 * i, batch)
    return batch


async def size(engine_url: str, path: Path | None) -> int:
    if path is not None:
        # The engine is closed here; sqlite3 itself folds the WAL in and compacts the file.
        with sqlite3.connect(path, isolation_level=None) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")  # in WAL mode the compacted pages land in the WAL first
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size
    engine = await open_database(engine_url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM FULL"))
            total = 0
            for table in metadata.sorted_tables:
                total += int((await conn.execute(text(f"SELECT pg_total_relation_size('{table.name}')"))).scalar_one())
            return total
    finally:
        await engine.dispose()


async def _commit(url: str, batch: Batch) -> None:
    engine = await open_database(url)
    try:
        await store.commit(engine, batch)
    finally:
        await engine.dispose()


async def measure(name: str, url: str, path: Path | None) -> None:
    await _commit(url, Batch())
    empty = await size(url, path)
    await _commit(url, one_day("health"))
    after_health = await size(url, path)
    await _commit(url, one_day("events"))
    raw = await size(url, path)
    engine = await open_database(url)
    try:
        await retention.apply(engine, now=START + 9 * DAY, events_days=7)
    finally:
        await engine.dispose()
    thinned = await size(url, path)
    per_day = 1024 * ROOMS
    print(f"  {name:<10} state and health {(after_health - empty) / per_day:6.1f} KB/day raw, "
          f"{(thinned - empty) / per_day:5.1f} KB/day after a week; "
          f"events {(raw - after_health) / per_day:6.1f} KB/day")


async def main() -> None:
    print(f"central storage per classroom-day ({ROOMS} classrooms × 2,880 health reports of ~900 B, "
          "1,500 events of ~150 B)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite3"
        await measure("sqlite", f"sqlite:///{path}", path)
        pg = PostgresServer()
        pg.start()
        try:
            await asyncio.to_thread(subprocess.run, [str(pg_bin_dir() / "createdb"), "-h", "127.0.0.1", "-p",
                                                     str(pg.port), "-U", pg.user, "storage"], check=True)
            await measure("postgresql", pg.url("storage"), None)
        finally:
            pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
