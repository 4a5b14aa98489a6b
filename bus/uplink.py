"""The district link: a second MQTT connection that carries only what the district reads.

The classroom's own broker gets everything (the board, the teacher's remote, pen activity, every
print progress tick). The district sits behind a rural uplink of a few hundred kbit/s that drops
often, so it gets the agent, a compact health, the inventory, availability, the lesson, alerts and
the few events it acts on. Retained topics keep only their latest value here: after a week offline
the inventory goes up once, not once per change. Health, alerts and events wait in an outbox of
their own, so a dead uplink never holds up the classroom's broker, and drain rate-limited when the
link is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from classroomd.bus.broker_settings import client_settings
from classroomd.bus.client import BrokerUrl, ClientSettings, MqttClient, NotConnected, Traffic, Will
from classroomd.bus.outbox import Outbox
from classroomd.config.schema import UplinkConfig
from classroomd.core.vocabulary import Priority

log = logging.getLogger("classroomd.uplink")


def _next_local_midnight(now: float) -> float:
    tm = time.localtime(now)
    # mktime normalises the 32nd of a month; -1 lets it work out daylight saving.
    return time.mktime((tm.tm_year, tm.tm_mon, tm.tm_mday + 1, 0, 0, 0, 0, 0, -1))


class DailyTraffic(Traffic):
    """Today's bytes and connections (local midnight to midnight), kept across restarts.

    The budget is per day, and a daemon restarted at noon must still know the morning's bytes.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.path = path
        self.clock = clock
        self.connects = 0
        self.day = time.strftime("%Y-%m-%d", time.localtime(clock()))
        self._rollover_at = _next_local_midnight(clock())
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            saved = json.loads(path.read_text())
            if saved["day"] == self.day:
                self.sent, self.received = int(saved["sent"]), int(saved["received"])
                self.connects = int(saved["connects"])

    def _roll(self) -> None:
        now = self.clock()
        if now >= self._rollover_at:
            self.day = time.strftime("%Y-%m-%d", time.localtime(now))
            self._rollover_at = _next_local_midnight(now)
            self.sent = self.received = self.connects = 0

    def count_sent(self, n: int) -> None:
        self._roll()
        super().count_sent(n)

    def count_received(self, n: int) -> None:
        self._roll()
        super().count_received(n)

    def count_connect(self) -> None:
        self._roll()
        self.connects += 1

    def today(self) -> tuple[int, int, int]:
        self._roll()
        return self.sent, self.received, self.connects

    def save(self) -> None:
        sent, received, connects = self.today()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"day": self.day, "sent": sent, "received": received, "connects": connects}))
        tmp.replace(self.path)


def uplink_settings(config: UplinkConfig, client_id: str) -> ClientSettings:
    # A CONNACK over a congested rural link can take a while; giving up early only costs bytes.
    return client_settings(config, client_id, connect_timeout_s=30.0)


class Uplink:
    def __init__(self, config: UplinkConfig, state_dir: Path, client_id: str, will: Will) -> None:
        self.config = config
        self.events = frozenset(config.events)
        self.traffic = DailyTraffic(state_dir / "uplink-traffic.json")
        self.client = MqttClient(uplink_settings(config, client_id), will, self.traffic)
        self.outbox = Outbox(state_dir / "uplink-outbox.sqlite3", config.max_messages)
        #: the newest payload of every retained topic the district gets
        self._latest: dict[str, bytes] = {}
        #: what this connection has already published of them
        self._sent: dict[str, bytes] = {}
        self._drain_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.client.on_connect.append(self._on_connect)
        self.client.on_disconnect.append(self._on_disconnect)

    # --- what goes up ------------------------------------------------------------
    def wants_event(self, name: str, priority: Priority) -> bool:
        """Print outcomes and faults go up; activity, progress ticks and captures stay in the room."""
        return name in self.events or priority == Priority.ALERT

    def put(self, topic: str, payload: bytes, *, priority: Priority, retain: bool = False,
            envelope: bool = True) -> None:
        self.outbox.put(topic, payload, priority=priority, retain=retain, envelope=envelope)

    def state(self, topic: str, payload: bytes) -> None:
        """A retained topic's newest value; it goes up now when it differs from what the district has."""
        self._latest[topic] = payload
        if self.client.connected.is_set() and self._sent.get(topic) != payload:
            self._spawn(self._publish_state([topic]))

    async def _publish_state(self, topics: list[str]) -> None:
        sends = []
        for topic in topics:
            payload = self._latest.get(topic)
            if payload is None or self._sent.get(topic) == payload:
                continue
            self._sent[topic] = payload
            sends.append(self._publish_one(topic, payload))
        await asyncio.gather(*sends)

    async def _publish_one(self, topic: str, payload: bytes) -> None:
        try:
            await self.client.publish(topic, payload, qos=1, retain=True)
        except NotConnected:
            self._sent.pop(topic, None)  # the next connect sends it
            return
        if not payload and self._latest.get(topic) == b"":
            # A cleared topic stays cleared on the broker; clearing it again at every connect costs bytes.
            del self._latest[topic]

    # --- health --------------------------------------------------------------------
    def status(self, compact: bool = False) -> dict[str, Any]:
        sent, received, connects = self.traffic.today()
        if compact:
            return {"bytes_sent_today": sent, "connects_today": connects}
        broker = self.client.broker
        return {"bytes_sent_today": sent, "bytes_received_today": received, "connects_today": connects,
                "outbox_depth": self.outbox.depth, "connected_broker": str(broker) if broker else None}

    # --- connection -------------------------------------------------------------------
    async def run(self) -> None:
        await self.client.run()

    async def _on_connect(self, url: BrokerUrl, protocol: int) -> None:
        self.traffic.count_connect()
        self._sent.clear()
        # A clean session: republish every retained topic (the district broker may have restarted
        # without them), then the backlog. About 1.5 KB a connect for a six-device classroom.
        await self._publish_state(list(self._latest))
        connected_since = time.time()
        self._drain_task = asyncio.create_task(self._drain(connected_since), name="uplink-drain")

    def _on_disconnect(self) -> None:
        if self._drain_task is not None:
            self._drain_task.cancel()
            self._drain_task = None

    async def _drain(self, connected_since: float) -> None:
        async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
            await self.client.publish(topic, payload, qos=qos, retain=retain)

        cfg = self.config
        with contextlib.suppress(NotConnected):
            await self.outbox.drain(publish, connected_since, rate=cfg.drain_rate_per_s,
                                    inflight=cfg.inflight, jitter_s=cfg.reconnect_jitter_s)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self, offline_topic: str, offline_payload: bytes) -> None:
        """Say offline (as the will would) and disconnect; the outbox keeps what is left."""
        if self.client.connected.is_set():
            with contextlib.suppress(NotConnected, TimeoutError):
                await asyncio.wait_for(self.client.publish(offline_topic, offline_payload, qos=1, retain=True), 2)
        for task in list(self._tasks):
            task.cancel()
        if self._drain_task is not None:
            self._drain_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._drain_task
        await self.client.stop(graceful=True)
        with contextlib.suppress(OSError):
            self.traffic.save()
        self.outbox.close()
