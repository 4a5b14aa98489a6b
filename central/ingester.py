"""Broker → database: one task owns the fleet's state and commits a batch at a time.

The project's MQTT client delivers messages from its socket callback; they wait in a
bounded queue until the task has a batch (`batch_max` messages or `batch_ms`), handles
it, and commits it in one transaction.

Two lanes, each on a connection of its own: live state (births, wills, inventory, device state,
availability, alerts, the lesson) and history (health and events, which an agent's outbox sends
a day of at once after an outage). The broker queues per connection, and each batch takes live
state first and fills up with history: when 200 classrooms drain their backlog together, a
classroom going dark meanwhile shows within a batch or two, not behind the whole backlog.

A message is acknowledged to the broker only after the batch holding it committed, and the
sessions persist under a client id that survives a restart: what central had received but not
committed when it was killed is redelivered when it comes back. A redelivery is harmless: events
are unique by msg_id, a health report at or below the classroom's last (session, seq) is history
only (that position is committed with the usage counters), and usage deltas are taken from
counters committed with the report that moved them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.bus.client import MQTT5, BrokerUrl, ClientSettings, Message, MqttClient
from classroomd.central import rules, store, topics
from classroomd.central.alerts import AlertBook
from classroomd.central.batch import Batch
from classroomd.central.config import CentralConfig, client_id
from classroomd.central.fleet import Fleet
from classroomd.central.handlers import Handlers

log = logging.getLogger("classroomd.central.ingest")

@dataclass(frozen=True)
class _LinkLost:
    at: float


@dataclass(frozen=True)
class _HistoryLost:
    pass


class Ingester:
    def __init__(self, cfg: CentralConfig, engine: AsyncEngine) -> None:
        self.cfg = cfg
        self.engine = engine
        self.fleet = Fleet()
        self.alerts = AlertBook()
        self.handlers = Handlers(self.fleet, self.alerts, cfg.base_topic, cfg.health_sample_s)
        name = client_id(cfg)
        #: the live state lane (for an events-only ingester, its one connection: the event lane)
        self.client = self._new_client(name if self.owns_state else f"{name}-events")
        #: events and health on a connection of their own: the broker queues per connection, so
        #: a backlog of replayed reports and events never stands in front of a classroom's will
        self.history_client = self._new_client(f"{name}-history") if self.owns_state else None
        #: live state and the link's own markers (their order matters: stale, then the retained state)
        self._inbox: deque[Message | _LinkLost] = deque()
        #: health and events (their own connection): history, taken after live state
        self._history: deque[Message | _HistoryLost] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._plain_events = False
        self.committed_batches = 0
        self.last_commit: float | None = None
        self.commit_errors = 0

    def _new_client(self, client_id: str) -> MqttClient:
        cfg = self.cfg
        # The two lanes together never hold more unacknowledged messages than the queue takes, so
        # a full queue (which would leave a message unacked until the next connection) stays rare.
        return MqttClient(ClientSettings(
            urls=[BrokerUrl.parse(u) for u in cfg.brokers], client_id=client_id,
            username=cfg.username, password=cfg.password,
            ca_file=str(cfg.ca_file) if cfg.ca_file else None, keepalive_s=cfg.keepalive_s,
            manual_ack=True, session_expiry_s=cfg.session_expiry_s, receive_maximum=cfg.queue_max // 2))

    @property
    def clients(self) -> list[MqttClient]:
        return [self.client] + ([self.history_client] if self.history_client is not None else [])

    @property
    def connected(self) -> bool:
        return all(c.connected.is_set() for c in self.clients)

    @property
    def counts(self) -> dict[str, int]:
        return {**self.handlers.counts, "queued": self._queued, "batches": self.committed_batches,
                "commit_errors": self.commit_errors}

    @property
    def owns_state(self) -> bool:
        return self.cfg.lanes == "all"

    async def start(self) -> None:
        # An events-only ingester keeps no fleet: it must never write presence or alerts,
        # which the one full ingester owns.
        events = self.client
        if self.history_client is not None:
            await self.fleet.load(self.engine)
            await self.alerts.load(self.engine)
            for topic_filter in topics.live_filters(self.cfg.base_topic):
                self.client.subscribe(topic_filter)
            events = self.history_client
            events.subscribe(topics.health_filter(self.cfg.base_topic))
            events.on_disconnect.append(self._history_lost)
        events.subscribe(topics.event_filter(self.cfg.base_topic, self.cfg.shared_group or None))
        events.on_connect.append(self._connected)
        self.client.on_message = self._receive
        if self.history_client is not None:
            self.history_client.on_message = self._receive_history
        self.client.on_disconnect.append(self._link_lost)

    async def _connected(self, url: BrokerUrl, protocol: int) -> None:
        if protocol != MQTT5 and self.cfg.shared_group and not self._plain_events:
            # MQTT 3.1.1 (amqtt, the agent's embedded broker) has no shared subscriptions: a
            # `$share/…` filter would silently match nothing, so take the whole event lane.
            log.warning("broker %s speaks MQTT 3.1.1: no shared subscription, this ingester takes every event",
                        url)
            self._plain_events = True
            (self.history_client or self.client).subscribe(topics.event_filter(self.cfg.base_topic, None))

    def _receive(self, message: Message) -> None:
        self._enqueue(self._inbox, message)

    def _receive_history(self, message: Message) -> None:
        self._enqueue(self._history, message)

    def _enqueue(self, lane: deque[Any], message: Message) -> None:
        if self._queued >= self.cfg.queue_max:
            # Memory stays bounded. The message is not acked, so the broker sends it again on
            # the next connection (on 3.1.1, where the window is the broker's to choose).
            self.handlers.counts["dropped_queue_full"] += 1
            return
        self._queued += 1
        lane.append(message)
        self._wake.set()

    def _link_lost(self) -> None:
        self._inbox.append(_LinkLost(time.time()))
        self._wake.set()

    def _history_lost(self) -> None:
        # Health reports on either side of this drop were not seen on one unbroken link: a jump
        # in seq across it is no health gap. In the history lane, so it stays in order with them.
        self._history.append(_HistoryLost())
        self._wake.set()

    async def run(self) -> None:
        mqtt = [asyncio.create_task(c.run(), name=f"central-mqtt-{i}") for i, c in enumerate(self.clients)]
        try:
            await self._loop()
        finally:
            for client in self.clients:
                await client.stop()
            for task in mqtt:
                task.cancel()
            await asyncio.gather(*mqtt, return_exceptions=True)

    def stop(self) -> None:
        self._stopping = True
        if not self.owns_state:
            # The broker keeps handing a stopped member of the shared subscription its share (to its
            # session, for when it comes back). An events-only ingester stopped on purpose may be
            # one scaled away: its share goes to the others from now on. A crash keeps it.
            for topic_filter, _qos in list(self.client.subscriptions):
                self.client.unsubscribe(topic_filter)
        self._wake.set()

    async def _loop(self) -> None:
        next_rules = time.monotonic() + self.cfg.rules_interval_s
        while not self._stopping:
            timeout = max(0.0, next_rules - time.monotonic())
            if not self._pending:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            if self._pending:
                # Let a burst gather into one transaction.
                if self._pending < self.cfg.batch_max:
                    await asyncio.sleep(self.cfg.batch_ms / 1000)
                taken: list[Message] = []
                await self._commit(self._take(taken), taken)
            if time.monotonic() >= next_rules:
                next_rules = time.monotonic() + self.cfg.rules_interval_s
                if self.owns_state:
                    batch = Batch()
                    rules.evaluate(self.fleet, self.alerts, self.cfg, time.time(), batch)
                    await self._commit(batch)
        if not self.owns_state:
            await asyncio.sleep(0.2)  # what the broker sent before it took the UNSUBSCRIBE
        # drain what arrived before the stop
        if self._pending:
            taken = []
            await self._commit(self._take(taken), taken)

    @property
    def _pending(self) -> int:
        return len(self._inbox) + len(self._history)

    def _take(self, taken: list[Message] | None = None) -> Batch:
        """The next batch; the messages it was made of are added to `taken` (to ack once committed)."""
        batch = Batch()
        if taken is None:
            taken = []
        now = time.time()
        room = self.cfg.batch_max
        for _ in range(min(len(self._inbox), room)):
            item = self._inbox.popleft()
            room -= 1
            if isinstance(item, _LinkLost):
                self.handlers.epoch += 1
                self.fleet.mark_stale(item.at, batch)
                continue
            self._queued -= 1
            taken.append(item)
            self.handlers.handle(item.topic, item.payload, now, batch)
        for _ in range(min(len(self._history), room)):
            message = self._history.popleft()
            if isinstance(message, _HistoryLost):
                self.handlers.epoch += 1
                continue
            self._queued -= 1
            taken.append(message)
            self.handlers.handle(message.topic, message.payload, now, batch)
        return batch

    async def _commit(self, batch: Batch, messages: list[Message] | None = None) -> None:
        if not batch:
            self._ack(messages)  # nothing to store (duplicates, malformed): taken care of
            return
        attempt = 0
        while True:
            try:
                await store.commit(self.engine, batch)
            except Exception as exc:
                attempt += 1
                self.commit_errors += 1
                # The database away is worth waiting for (the in-memory state already moved on
                # and must reach it); a batch it refuses for its content is not.
                if not _transient(exc) and attempt >= 3:
                    self.handlers.counts["batches_dropped"] += 1
                    log.exception("the database refused a batch of %d events; dropped", len(batch.events))
                    # Acked all the same: redelivered, the batch would be refused again and its
                    # unacked messages would hold the broker's window shut.
                    self._ack(messages)
                    return
                log.warning("commit failed (%s); retrying in 1 s", exc)
                await asyncio.sleep(1)
                continue
            self.committed_batches += 1
            self.last_commit = time.time()
            self._ack(messages)
            return

    def _ack(self, messages: list[Message] | None) -> None:
        # In arrival order, as MQTT asks; one from a connection since lost is not acked, the broker
        # redelivers it on the new one.
        for message in messages or ():
            if not message.ack():
                self.handlers.counts["ack_lost"] += 1


def _transient(exc: Exception) -> bool:
    if isinstance(exc, OSError | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
