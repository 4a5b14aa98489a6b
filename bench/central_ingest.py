"""Central's ingest: events/s committed end to end (broker → rows), per ingester and per
ingester CPU-second, on SQLite and PostgreSQL with 1 and 2 ingesters; then publish → committed
latency at a fixed rate; then classroom will → `offline` in the API.

Run: .venv/bin/python bench/central_ingest.py [N events, default 20000] [rate, default 2000]
Everything (Mosquitto, PostgreSQL, central processes, publishers) shares this machine's cores,
so the numbers are a floor for a dedicated server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
import paho.mqtt.client as paho
import psutil
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import func, select

from classroomd.central import schema
from classroomd.central.db import open_database
from classroomd.central.simulate import SimClassroom
from tests.central.postgres import PostgresServer
from tests.support.mosquitto import Mosquitto, free_port, wait_port

ROOMS = 50


def publisher(url: str, n: int, rate: float | None, tag: str) -> list[float]:
    """Publish n events at QoS 1 (as fast as possible, or at `rate`/s); returns publish times."""
    host, port = url.split("://")[1].split(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{tag}", protocol=MQTTProtocolVersion.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    times: list[float] = []
    start = time.monotonic()
    for i in range(n):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        room = i % ROOMS
        body = {"seq": i + 1, "session": 1, "ts": "2026-12-01T10:00:00Z", "msg_id": f"{tag}:{i}",
                "media_id": f"m{i}", "note": "bench"}
        times.append(time.time())
        info = client.publish(f"classroom/bench-{room // 2}/room-{room % 2}/scope-1/event/captured",
                              json.dumps(body), qos=1)
        while info.rc == paho.MQTT_ERR_QUEUE_SIZE:
            time.sleep(0.001)
            info = client.publish(f"classroom/bench-{room // 2}/room-{room % 2}/scope-1/event/captured",
                                  json.dumps(body), qos=1)
    client.loop_stop()
    client.disconnect()
    return times


def start_central(db: str, broker: str, state: Path, lanes: str = "all") -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "classroomd.daemon.cli", "central", "run", "--db", db,
                             "--broker", broker, "--http", f"127.0.0.1:{port}", "--state-dir", str(state),
                             "--lanes", lanes, "--log-level", "WARNING"], stdout=subprocess.DEVNULL)
    wait_port(port, 30)
    return proc, port


async def count_events(db: str) -> int:
    engine = await open_database(db)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(schema.events))).scalar_one())
    finally:
        await engine.dispose()


async def throughput(db: str, broker: str, workdir: Path, ingesters: int, n: int) -> tuple[float, float]:
    # As deployed: one full ingester, the others take only their share of the event lane.
    procs = [start_central(db, broker, workdir / f"state-{i}", "all" if i == 0 else "events")[0]
             for i in range(ingesters)]
    await asyncio.sleep(1.0)
    cpu0 = sum(psutil.Process(p.pid).cpu_times().user + psutil.Process(p.pid).cpu_times().system for p in procs)
    start = time.monotonic()
    pubs = [threading.Thread(target=publisher, args=(broker, n // 2, None, f"t{ingesters}-{k}")) for k in range(2)]
    for t in pubs:
        t.start()
    engine = await open_database(db)
    target = (n // 2) * 2
    try:
        while True:
            async with engine.connect() as conn:
                done = int((await conn.execute(select(func.count()).select_from(schema.events)
                                               .where(schema.events.c.msg_id.like(f"t{ingesters}-%")))).scalar_one())
            if done >= target or time.monotonic() - start > 120:
                break
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - start
    finally:
        await engine.dispose()
    for t in pubs:
        t.join()
    cpu1 = sum(psutil.Process(p.pid).cpu_times().user + psutil.Process(p.pid).cpu_times().system for p in procs)
    for p in procs:
        p.terminate()
        p.wait(15)
    return done / elapsed, done / max(cpu1 - cpu0, 1e-9)


async def latency(db: str, broker: str, workdir: Path, rate: float, seconds: float) -> tuple[float, float]:
    proc, _ = start_central(db, broker, workdir / "state-lat")
    await asyncio.sleep(1.0)
    n = int(rate * seconds)
    base = await count_events(db)
    times: list[float] = []
    thread = threading.Thread(target=lambda: times.extend(publisher(broker, n, rate, "lat")))
    thread.start()
    seen: list[float] = []  # seen[i]: when the i-th event was first visible as committed
    engine = await open_database(db)
    try:
        deadline = time.monotonic() + seconds + 30
        while len(seen) < n and time.monotonic() < deadline:
            async with engine.connect() as conn:
                count = int((await conn.execute(select(func.count()).select_from(schema.events))).scalar_one())
            now = time.time()
            seen.extend([now] * (count - base - len(seen)))
            await asyncio.sleep(0.02)
    finally:
        await engine.dispose()
    thread.join()
    proc.terminate()
    proc.wait(15)
    delays = sorted(s - p for s, p in zip(seen, times, strict=False))
    return delays[len(delays) // 2], delays[int(len(delays) * 0.99) - 1]


async def offline_detection(db: str, broker: str, workdir: Path, trials: int) -> tuple[float, float]:
    proc, port = start_central(db, broker, workdir / "state-off")
    delays = []
    async with aiohttp.ClientSession() as http:
        for i in range(trials):
            sim = SimClassroom(broker, "bench-off", f"room-{i}", session=1, keepalive_s=30)
            await sim.start(health_loop=False)
            while await presence(http, port, sim) != "online":
                await asyncio.sleep(0.02)
            start = time.monotonic()
            await sim.kill()
            while await presence(http, port, sim) != "offline":
                await asyncio.sleep(0.02)
            delays.append(time.monotonic() - start)
    proc.terminate()
    proc.wait(15)
    delays.sort()
    return delays[len(delays) // 2], delays[int(len(delays) * 0.99) - 1]


async def presence(http: aiohttp.ClientSession, port: int, sim: SimClassroom) -> str | None:
    async with http.get(f"http://127.0.0.1:{port}/api/v1/classrooms") as response:
        for entry in await response.json():
            if entry["site"] == sim.site and entry["room"] == sim.room:
                return str(entry["presence"])
    return None


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 2000.0
    print(f"central ingest benchmark on {os.cpu_count()} cores: {n} events of ~130 B, QoS 1, {ROOMS} classrooms")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mosquitto")
        broker.start()
        pg = PostgresServer()
        pg.start()
        try:
            engines = {"sqlite": lambda name: f"sqlite:///{work / name}.sqlite3"}
            for database in ("b1", "b2", "lat", "off"):
                await asyncio.to_thread(subprocess.run, [str(Path(pg_bin()) / "createdb"), "-h", "127.0.0.1", "-p",
                                                         str(pg.port), "-U", pg.user, database], check=True)
            engines["postgresql"] = pg.url
            for engine_name, url_for in engines.items():
                for ingesters in (1, 2):
                    db = url_for(f"b{ingesters}")
                    await open_database_once(db)
                    per_s, per_cpu = await throughput(db, broker.url, work / f"{engine_name}{ingesters}",
                                                      ingesters, n)
                    print(f"  {engine_name:<10} {ingesters} ingester(s): {per_s:>7.0f} events/s committed, "
                          f"{per_cpu:>7.0f} events per ingester CPU-second")
                db = url_for("lat")
                await open_database_once(db)
                p50, p99 = await latency(db, broker.url, work / f"{engine_name}-lat", rate, 10)
                print(f"  {engine_name:<10} publish → committed at {rate:.0f}/s: p50 {p50 * 1000:.0f} ms, "
                      f"p99 {p99 * 1000:.0f} ms")
            db = engines["sqlite"]("off")
            p50, p99 = await offline_detection(db, broker.url, work, 20)
            print(f"  will → API offline (20 classrooms killed): p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
        finally:
            pg.stop()
            broker.stop()


def pg_bin() -> str:
    from tests.central.postgres import pg_bin_dir

    return str(pg_bin_dir())


async def open_database_once(db: str) -> None:
    engine = await open_database(db)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
