"""Broker → database: one task owns the fleet's state and commits a batch at a time.

The project's MQTT client delivers messages from its socket callback; they wait in a
bounded queue until the task has a batch (`batch_max` messages or `batch_ms`), handles
it, and commits it in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.bus.client import MQTT5, BrokerUrl, ClientSettings, Message, MqttClient
from classroomd.central import rules, store, topics
from classroomd.central.alerts import AlertBook
from classroomd.central.batch import Batch
from classroomd.central.config import CentralConfig
from classroomd.central.fleet import Fleet
from classroomd.central.handlers import Handlers

log = logging.getLogger("classroomd.central.ingest")


@dataclass(frozen=True)
class _LinkLost:
    at: float


class Ingester:
    def __init__(self, cfg: CentralConfig, engine: AsyncEngine) -> None:
        self.cfg = cfg
        self.engine = engine
        self.fleet = Fleet()
        self.alerts = AlertBook()
        self.handlers = Handlers(self.fleet, self.alerts, cfg.base_topic, cfg.health_sample_s)
        self.client = MqttClient(ClientSettings(
            urls=[BrokerUrl.parse(u) for u in cfg.brokers],
            client_id=cfg.client_id or f"central-{socket.gethostname()}-{os.getpid()}",
            username=cfg.username, password=cfg.password,
            ca_file=str(cfg.ca_file) if cfg.ca_file else None, keepalive_s=cfg.keepalive_s))
        self._inbox: deque[Message | _LinkLost] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._plain_events = False
        self.committed_batches = 0
        self.last_commit: float | None = None
        self.commit_errors = 0

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
        if self.owns_state:
            await self.fleet.load(self.engine)
            await self.alerts.load(self.engine)
            for topic_filter in topics.state_filters(self.cfg.base_topic):
                self.client.subscribe(topic_filter)
        self.client.subscribe(topics.event_filter(self.cfg.base_topic, self.cfg.shared_group or None))
        self.client.on_connect.append(self._connected)
        self.client.on_message = self._receive
        self.client.on_disconnect.append(self._link_lost)

    async def _connected(self, url: BrokerUrl, protocol: int) -> None:
        if protocol != MQTT5 and self.cfg.shared_group and not self._plain_events:
            # MQTT 3.1.1 (amqtt, the agent's embedded broker) has no shared subscriptions: a
            # `$share/…` filter would silently match nothing, so take the whole event lane.
            log.warning("broker %s speaks MQTT 3.1.1: no shared subscription, this ingester takes every event",
                        url)
            self._plain_events = True
            self.client.subscribe(topics.event_filter(self.cfg.base_topic, None))

    def _receive(self, message: Message) -> None:
        if self._queued >= self.cfg.queue_max:
            # Memory stays bounded; with clean sessions the broker would not keep the
            # message for us either, so it is counted where an operator will look.
            self.handlers.counts["dropped_queue_full"] += 1
            return
        self._queued += 1
        self._inbox.append(message)
        self._wake.set()

    def _link_lost(self) -> None:
        self._inbox.append(_LinkLost(time.time()))
        self._wake.set()

    async def run(self) -> None:
        mqtt = asyncio.create_task(self.client.run(), name="central-mqtt")
        try:
            await self._loop()
        finally:
            await self.client.stop()
            mqtt.cancel()
            await asyncio.gather(mqtt, return_exceptions=True)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _loop(self) -> None:
        next_rules = time.monotonic() + self.cfg.rules_interval_s
        while not self._stopping:
            timeout = max(0.0, next_rules - time.monotonic())
            if not self._inbox:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            if self._inbox:
                # Let a burst gather into one transaction.
                if len(self._inbox) < self.cfg.batch_max:
                    await asyncio.sleep(self.cfg.batch_ms / 1000)
                await self._commit(self._take())
            if time.monotonic() >= next_rules:
                next_rules = time.monotonic() + self.cfg.rules_interval_s
                if self.owns_state:
                    batch = Batch()
                    rules.evaluate(self.fleet, self.alerts, self.cfg, time.time(), batch)
                    await self._commit(batch)
        # drain what arrived before the stop
        if self._inbox:
            await self._commit(self._take())

    def _take(self) -> Batch:
        batch = Batch()
        now = time.time()
        for _ in range(min(len(self._inbox), self.cfg.batch_max)):
            item = self._inbox.popleft()
            if isinstance(item, _LinkLost):
                self.handlers.epoch += 1
                self.fleet.mark_stale(item.at, batch)
                continue
            self._queued -= 1
            self.handlers.handle(item.topic, item.payload, now, batch)
        return batch

    async def _commit(self, batch: Batch) -> None:
        if not batch:
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
                    return
                log.warning("commit failed (%s); retrying in 1 s", exc)
                await asyncio.sleep(1)
                continue
            self.committed_batches += 1
            self.last_commit = time.time()
            return


def _transient(exc: Exception) -> bool:
    if isinstance(exc, OSError | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
