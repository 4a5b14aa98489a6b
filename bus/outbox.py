"""The durable outbox: events, health and alerts are stored before they are sent.

A message stays in SQLite (in `state_dir`) until the broker has acknowledged
it at QoS 1, so neither a broker outage nor a daemon crash loses it. Rows
drain by priority, then in insertion order, which keeps every stream (one
topic) in `seq` order. The box is bounded: when full, the oldest message of
the least important kind gives way. After a reconnect the backlog drains at
a configured rate, after a random delay, so that a district's classrooms
coming back together do not flood the district broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from classroomd.core.vocabulary import Priority

log = logging.getLogger("classroomd.outbox")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    created REAL NOT NULL,
    envelope INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_order ON outbox (priority, id);
"""


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    priority: int
    created: float
    envelope: bool


Publish = Callable[[str, bytes, int, bool], Awaitable[None]]


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    async def take(self) -> None:
        if self.rate <= 0:
            return
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


class Outbox:
    def __init__(self, path: Path, max_messages: int = 50_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_messages = max_messages
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL with synchronous=NORMAL survives a killed daemon; only a power cut
        # can lose the last transactions, which is the price of not fsyncing per event.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.dropped = 0
        self._depth = int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        self._wake = asyncio.Event()
        self._claimed: set[int] = set()

    @property
    def depth(self) -> int:
        return self._depth

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()

    def put(
        self,
        topic: str,
        payload: bytes,
        *,
        priority: Priority,
        qos: int = 1,
        retain: bool = False,
        envelope: bool = True,
    ) -> bool:
        """Store a message; False when it was dropped because the box is full of more important ones.

        `envelope` marks a JSON object that gets `"replayed": true` when sent late.
        """
        if self._depth >= self.max_messages and not self._make_room(priority):
            self.dropped += 1
            log.warning("outbox full (%d): dropped new message to %s", self._depth, topic)
            return False
        self.db.execute(
            "INSERT INTO outbox (topic, payload, qos, retain, priority, created, envelope) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (topic, payload, qos, int(retain), int(priority), time.time(), int(envelope)),
        )
        self._depth += 1
        self._wake.set()
        return True

    def _make_room(self, priority: Priority) -> bool:
        victim = self.db.execute(
            "SELECT id, priority, topic FROM outbox WHERE priority >= ? "
            "ORDER BY priority DESC, id ASC LIMIT 1",
            (int(priority),),
        ).fetchone()
        if victim is None or victim[0] in self._claimed:
            return False
        self.db.execute("DELETE FROM outbox WHERE id = ?", (victim[0],))
        self._depth -= 1
        self.dropped += 1
        log.warning("outbox full: dropped the oldest lower-priority message to %s", victim[2])
        return True

    def _next_rows(self, limit: int) -> list[Row]:
        claimed = self._claimed
        rows = self.db.execute(
            "SELECT id, topic, payload, qos, retain, priority, created, envelope FROM outbox "
            "ORDER BY priority, id LIMIT ?",
            (limit + len(claimed),),
        ).fetchall()
        out = [Row(r[0], r[1], bytes(r[2]), r[3], bool(r[4]), r[5], r[6], bool(r[7]))
               for r in rows if r[0] not in claimed]
        return out[:limit]

    def _acknowledged(self, row_id: int) -> None:
        cur = self.db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
        self._depth -= cur.rowcount

    @staticmethod
    def _late_payload(row: Row) -> bytes:
        if not row.envelope or not row.payload:
            return row.payload
        try:
            body = json.loads(row.payload)
        except ValueError:
            return row.payload
        if not isinstance(body, dict):
            return row.payload
        body["replayed"] = True
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()

    async def drain(
        self,
        publish: Publish,
        connected_since: float,
        *,
        rate: float = 0.0,
        inflight: int = 64,
        jitter_s: float = 0.0,
    ) -> None:
        """Send until the connection fails (the publish call raises); never returns otherwise.

        Messages created before `connected_since` are late and marked `replayed`.
        """
        if jitter_s > 0 and self._depth:
            delay = random.uniform(0, jitter_s)
            log.info("outbox: %d queued; draining in %.1fs", self._depth, delay)
            await asyncio.sleep(delay)
        bucket = TokenBucket(rate, burst=max(rate / 4, 10))
        window = asyncio.Semaphore(inflight)
        tasks: set[asyncio.Task[None]] = set()
        failure: list[BaseException] = []

        async def send(row: Row) -> None:
            try:
                late = row.created < connected_since
                payload = self._late_payload(row) if late else row.payload
                await publish(row.topic, payload, row.qos, row.retain)
                self._acknowledged(row.id)
            except BaseException as exc:
                failure.append(exc)
            finally:
                self._claimed.discard(row.id)
                window.release()

        try:
            while not failure:
                rows = self._next_rows(inflight)
                if not rows:
                    self._wake.clear()
                    if not self._next_rows(1):
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), 1.0)
                    continue
                for row in rows:
                    await window.acquire()
                    if failure:
                        window.release()
                        break
                    await bucket.take()
                    self._claimed.add(row.id)
                    task = asyncio.create_task(send(row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                # Rows are claimed until acknowledged; wait for a slot before looking again.
                await window.acquire()
                window.release()
            raise failure[0]
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._claimed.clear()
