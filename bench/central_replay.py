"""Replay flood: N classrooms come back at once, each draining a 24-hour outbox, while other
classrooms change live state.

Each replaying classroom is a simulated classroom (central/simulate.py: a real MQTT connection
with birth, will and retained state) whose backlog sits in the agent's own outbox
(bus/outbox.py) and leaves through its own drain: the district uplink's health every 60 s and a
print event every 10 minutes for 24 hours, sent with `"replayed": true` (they were stored before
the connect) at the uplink's `drain_rate_per_s` after a random `reconnect_jitter_s`, on the
retained health topic (the state lane) and the event topics (the event lane), as
`bus/uplink.py` sends them.

Meanwhile L live classrooms flip a device's availability; the bench measures the time from
the publish until `/api/v1/classrooms/{site}/{room}` shows it (p50/p99 during the flood), and
the time until every replayed event is committed and central's queue is empty.

Central runs as its own process (`classroomd central run`, SQLite), and so do the replaying
classrooms: the measuring process only publishes the live changes and polls the API. Usage:
    python -m bench.central_replay [N] [--hours 24] [--live 20] [--rate 5] [--jitter 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.central_storm import Usage
from classroomd.bus.outbox import Outbox
from classroomd.central.simulate import SimClassroom
from classroomd.core.vocabulary import Priority
from tests.support.mosquitto import Mosquitto, free_port, wait_port

HEALTH_EVERY_S = 60.0  # [uplink] health_interval_s
EVENT_EVERY_S = 600.0  # a print job finished every 10 minutes, all day


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def fill_outbox(room: SimClassroom, outbox: Outbox, hours: float, now: float) -> int:
    """A day of what the uplink would have queued while the district was away; returns the event count."""
    start = now - hours * 3600
    events = 0
    outbox.db.execute("BEGIN")
    try:
        t, seq = start, 0
        while t < now:
            seq += 1
            body = {**room.health_payload(seq=seq), "ts": _iso(t), "msg_id": f"{room.session}:{seq}:uplink-health"}
            outbox.put(room.topics.health, json.dumps(body).encode(), priority=Priority.STATE, retain=True)
            t += HEALTH_EVERY_S
        t, seq = start + random.uniform(0, EVENT_EVERY_S), 0
        while t < now:
            seq += 1
            body = {"seq": seq, "session": room.session, "ts": _iso(t), "msg_id": f"{room.session}:{seq}:job",
                    "job": f"job-{seq}", "pages": 2}
            outbox.put(room.topics.event("printer-1", "job_finished"), json.dumps(body).encode(),
                       priority=Priority.EVENT)
            events += 1
            t += EVENT_EVERY_S
        outbox.db.execute("COMMIT")
    except BaseException:
        outbox.db.execute("ROLLBACK")
        raise
    return events


async def drain(room: SimClassroom, outbox: Outbox, rate: float, jitter: float, since: float) -> None:
    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        await room.client.publish(topic, payload, qos=qos, retain=retain)

    # The uplink's own drain (bus/uplink.py): inflight 16, the rate and jitter of [uplink].
    await outbox.drain(publish, since, rate=rate, inflight=16, jitter_s=jitter)


async def shown(http: aiohttp.ClientSession, base: str, room: SimClassroom, device: str, state: str) -> bool:
    async with http.get(f"{base}/api/v1/classrooms/{room.site}/{room.room}") as r:
        if r.status == 404:
            return False  # not seen yet
        body = await r.json()
    return any(d["id"] == device and d["availability"] == state for d in body["devices"])


async def loop_lag(stop: asyncio.Event, worst: list[float]) -> None:
    """How late this process's own event loop runs: a busy publisher would blame central unfairly."""
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(0.1)
        worst[0] = max(worst[0], time.monotonic() - started - 0.1)


async def live_changes(http: aiohttp.ClientSession, base: str, rooms: list[SimClassroom], stop: asyncio.Event,
                       latencies: list[float], at: list[float] | None = None,
                       acked: list[float] | None = None) -> None:
    """One availability flip a second, each timed until the API shows it."""
    began = time.monotonic()

    async def one(room: SimClassroom) -> None:
        state = "offline" if room.availability["scope-1"] == "online" else "online"
        started = time.monotonic()
        await room.set_availability("scope-1", state)
        puback = time.monotonic() - started  # the broker has it (QoS 1)
        while not await shown(http, base, room, "scope-1", state):
            await asyncio.sleep(0.05)
        latencies.append(time.monotonic() - started)
        if acked is not None:
            acked.append(puback)
        if at is not None:
            at.append(started - began)

    pending: set[asyncio.Task[None]] = set()
    free = list(rooms)
    while not stop.is_set():
        if free:
            room = free.pop(random.randrange(len(free)))
            task = asyncio.create_task(one(room))
            pending.add(task)
            task.add_done_callback(lambda t, r=room: (pending.discard(t), free.append(r)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    await asyncio.gather(*pending, return_exceptions=True)


def committed_events(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE replayed").fetchone()[0])


async def queued(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(base + "/healthz") as r:
        return int((await r.json())["counts"].get("queued", 0))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def flood(args: argparse.Namespace) -> None:
    """The replaying classrooms, in a process of their own (`--flood-only`): in the measuring
    process their 1,000 messages a second would delay the live publishes and the API polls, and
    the bench would blame central for its own busy event loop. Says FILLED, CONNECTED and SENT
    on stdout, then keeps the connections until terminated."""
    workdir = Path(args.workdir)
    rooms = [SimClassroom(args.broker, f"replay-{i // 4 + 1:03d}", f"room-{i % 4 + 1}", keepalive_s=30)
             for i in range(args.classrooms)]
    outboxes = [Outbox(workdir / f"{i}.sqlite3", max_messages=100_000) for i in range(args.classrooms)]
    now = time.time()
    events = sum(fill_outbox(r, o, args.hours, now) for r, o in zip(rooms, outboxes, strict=True))
    print(f"FILLED {sum(o.depth for o in outboxes)} {events}", flush=True)
    for i in range(0, len(rooms), 50):
        await asyncio.gather(*(r.start(health_loop=False) for r in rooms[i:i + 50]))
    since = time.time()
    print(f"CONNECTED {since}", flush=True)
    drains = [asyncio.create_task(drain(r, o, args.rate, args.jitter, since))
              for r, o in zip(rooms, outboxes, strict=True)]
    while any(o.depth for o in outboxes):
        await asyncio.sleep(0.5)
    print(f"SENT {time.time()}", flush=True)
    await asyncio.Event().wait()
    for task in drains:  # pragma: no cover - ended by the parent's terminate
        task.cancel()


async def _line(child: asyncio.subprocess.Process, word: str) -> list[str]:
    assert child.stdout is not None
    while True:
        line = (await child.stdout.readline()).decode()
        if not line:
            raise RuntimeError("the flood process ended")
        if line.startswith(word + " "):
            return line.split()[1:]


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        port = free_port()
        state = Path(tmp) / "central"
        central = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "classroomd", "central", "run", "--broker", broker.url, "--http",
            f"127.0.0.1:{port}", "--state-dir", str(state), "--log-level", "ERROR")
        base = f"http://127.0.0.1:{port}"
        live = [SimClassroom(broker.url, f"live-{i // 4 + 1:03d}", f"room-{i % 4 + 1}", keepalive_s=30)
                for i in range(args.live)]
        child: asyncio.subprocess.Process | None = None
        try:
            await asyncio.to_thread(wait_port, port, 30)
            usage = Usage(central.pid)
            assert broker.proc is not None
            broker_usage = Usage(broker.proc.pid)
            for room in live:
                await room.start(health_loop=False)
            async with aiohttp.ClientSession() as http:
                for room in live:
                    while not await shown(http, base, room, "scope-1", "online"):
                        await asyncio.sleep(0.2)
                # Quiet baseline: the same measure with no flood.
                stop = asyncio.Event()
                quiet: list[float] = []
                runner = asyncio.create_task(live_changes(http, base, live, stop, quiet))
                await asyncio.sleep(args.baseline)
                stop.set()
                await runner

                child = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.central_replay", str(args.classrooms), "--flood-only",
                    "--broker", broker.url, "--workdir", str(Path(tmp) / "outbox"), "--hours", str(args.hours),
                    "--rate", str(args.rate), "--jitter", str(args.jitter), stdout=asyncio.subprocess.PIPE)
                filled = time.monotonic()
                total, events = (int(x) for x in await _line(child, "FILLED"))
                print(f"{args.classrooms} outboxes of {args.hours:g} h: {total} messages ({events} events) "
                      f"filled in {time.monotonic() - filled:.1f} s", flush=True)
                since = float((await _line(child, "CONNECTED"))[0])
                started = time.monotonic() - (time.time() - since)
                sent = asyncio.create_task(_line(child, "SENT"))
                flood: list[float] = []
                flood_at: list[float] = []
                flood_acked: list[float] = []
                lag = [0.0]
                most_queued = 0
                stop = asyncio.Event()
                runner = asyncio.create_task(live_changes(http, base, live, stop, flood, flood_at, flood_acked))
                lagging = asyncio.create_task(loop_lag(stop, lag))
                sent_at = drained_at = None
                while drained_at is None:
                    await asyncio.sleep(1.0)
                    usage.sample()
                    broker_usage.sample()
                    most_queued = max(most_queued, await queued(http, base))
                    if sent_at is None and sent.done():
                        sent_at = float(sent.result()[0]) - since
                    # Each outbox sends its health before its events, on the one history connection,
                    # so the last replayed event committed is the end of the flood. (Central's queue
                    # itself is rarely empty: the live changes go on.)
                    if sent_at is not None \
                            and await asyncio.to_thread(committed_events, state / "central.sqlite3") >= events:
                        drained_at = time.monotonic() - started
                    if time.monotonic() - started > args.timeout:
                        raise TimeoutError(f"not drained after {args.timeout} s")
                stop.set()
                await runner
                await lagging
            print(f"live state, no flood: {len(quiet)} changes, p50 {statistics.median(quiet) * 1000:.0f} ms, "
                  f"p99 {pct(quiet, 0.99) * 1000:.0f} ms")
            print(f"live state during the flood: {len(flood)} changes, p50 {statistics.median(flood) * 1000:.0f} ms, "
                  f"p99 {pct(flood, 0.99) * 1000:.0f} ms, max {max(flood) * 1000:.0f} ms")
            worst = sorted(zip(flood, flood_at, strict=True), reverse=True)[:5]
            print("slowest changes (latency s @ s after the connects): "
                  + ", ".join(f"{lat:.1f} @ {t:.0f}" for lat, t in worst) + f"; central's queue at most {most_queued}")
            after_ack = [whole - ack for whole, ack in zip(flood, flood_acked, strict=True)]
            print(f"of which the publish (until the broker's PUBACK): "
                  f"p50 {statistics.median(flood_acked) * 1000:.0f} ms, "
                  f"p99 {pct(flood_acked, 0.99) * 1000:.0f} ms; this process's event loop late by at most "
                  f"{lag[0] * 1000:.0f} ms")
            print("from the broker's PUBACK to the API (central's share): "
                  f"p50 {statistics.median(after_ack) * 1000:.0f} ms, p99 {pct(after_ack, 0.99) * 1000:.0f} ms")
            print(f"flood: {total} messages sent by the classrooms in {sent_at:.1f} s, all committed "
                  f"{drained_at:.1f} s after the connects ({total / drained_at:.0f} msg/s); "
                  f"central peak CPU {usage.peak_cpu:.0f} %, RSS {usage.peak_rss_mb:.0f} MB; "
                  f"Mosquitto peak CPU {broker_usage.peak_cpu:.0f} %", flush=True)
        finally:
            if child is not None and child.returncode is None:
                child.terminate()
                await asyncio.wait_for(child.wait(), 30)
            await asyncio.gather(*(r.stop() for r in live), return_exceptions=True)
            central.terminate()
            await asyncio.wait_for(central.wait(), 20)
            broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("classrooms", type=int, nargs="?", default=200)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--live", type=int, default=20, help="classrooms changing live state meanwhile")
    parser.add_argument("--rate", type=float, default=5.0,
                        help="each classroom's drain rate, messages/s ([uplink] drain_rate_per_s; 0: unlimited)")
    parser.add_argument("--jitter", type=float, default=30.0, help="[uplink] reconnect_jitter_s")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of live changes before the flood")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--flood-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    options = parser.parse_args()
    asyncio.run(flood(options) if options.flood_only else main(options))
