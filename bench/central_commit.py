"""Central's own share of ingest, without MQTT: events/s through the handlers and committed in
batches of 1,000, SQLite and PostgreSQL. Compare with bench/central_ingest.py to see how much of
the end-to-end cost is the broker and the MQTT client.

Run: .venv/bin/python bench/central_commit.py [N, default 20000]
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classroomd.central import store
from classroomd.central.alerts import AlertBook
from classroomd.central.batch import Batch
from classroomd.central.db import open_database
from classroomd.central.fleet import Fleet
from classroomd.central.handlers import Handlers
from tests.central.postgres import PostgresServer, pg_bin_dir


def messages(n: int) -> list[tuple[str, bytes]]:
    return [(f"classroom/bench-{i % 25}/room-{i % 2}/scope-1/event/captured",
             json.dumps({"seq": i, "session": 1, "ts": "2026-12-01T10:00:00Z", "msg_id": f"1:{i}:scope-1",
                         "media_id": f"m{i}", "note": "bench"}).encode()) for i in range(n)]


async def measure(name: str, url: str, n: int) -> None:
    engine = await open_database(url)
    handlers = Handlers(Fleet(), AlertBook(), "classroom")
    todo = messages(n)
    handling = committing = 0.0
    try:
        for start in range(0, n, 1000):
            batch = Batch()
            t0 = time.perf_counter()
            for topic, payload in todo[start:start + 1000]:
                handlers.handle(topic, payload, time.time(), batch)
            t1 = time.perf_counter()
            await store.commit(engine, batch)
            handling, committing = handling + t1 - t0, committing + time.perf_counter() - t1
    finally:
        await engine.dispose()
    print(f"  {name:<10} handled {n / handling:>7.0f} events/s, committed {n / committing:>7.0f} events/s, "
          f"together {n / (handling + committing):>7.0f} events/s")


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(f"central handlers + commit, no MQTT: {n} events in batches of 1,000")
    with tempfile.TemporaryDirectory() as tmp:
        await measure("sqlite", f"sqlite:///{Path(tmp) / 'c.sqlite3'}", n)
    pg = PostgresServer()
    pg.start()
    try:
        await asyncio.to_thread(subprocess.run, [str(pg_bin_dir() / "createdb"), "-h", "127.0.0.1", "-p",
                                                 str(pg.port), "-U", pg.user, "bench"], check=True)
        await measure("postgresql", pg.url("bench"), n)
    finally:
        pg.stop()


if __name__ == "__main__":
    asyncio.run(main())
