"""The classroom on MQTT: turns the agent's view into the contract's topics.

It knows topics, payload envelopes, the outbox and the client; it knows no
hardware. The agent hands it plain snapshots through `ClassroomView`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from classroomd.bus.client import BrokerUrl, Message, MqttClient, NotConnected
from classroomd.bus.outbox import Outbox
from classroomd.bus.router import RequestRouter, Target
from classroomd.bus.topics import Topics
from classroomd.bus.uplink import Uplink
from classroomd.config.schema import OutboxConfig
from classroomd.core.timestamps import now_iso
from classroomd.core.vocabulary import Priority

log = logging.getLogger("classroomd.bus")

STATE_FLUSH_S = 0.2
#: A first change waits this long before it is published, so that what happens together (a device
#: added, opened and ready within a few loop turns) goes out as one state, not three.
STATE_GATHER_S = 0.02
#: What makes the inventory news: who is there, who they are, whether they are reachable. A status
#: flicker (ready <-> busy, a fault retried) belongs to the device's own topic and to health.
INVENTORY_CONTENT = ("id", "kind", "name", "vendor", "model", "availability")


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


class ClassroomView(Protocol):
    def agent_state(self, state: str) -> dict[str, Any]: ...
    def inventory(self) -> list[dict[str, Any]]: ...
    def device_snapshots(self) -> dict[str, dict[str, Any]]: ...
    def lesson_payload(self) -> dict[str, Any]: ...
    def target(self, target_id: str) -> Target | None: ...


class ClassroomBus:
    def __init__(
        self,
        topics: Topics,
        client: MqttClient,
        outbox: Outbox,
        view: ClassroomView,
        session: int,
        state_dir: Path,
        outbox_config: OutboxConfig,
        uplink: Uplink | None = None,
    ) -> None:
        self.topics = topics
        self.client = client
        self.outbox = outbox
        self.view = view
        self.session = session
        self.outbox_config = outbox_config
        self.uplink = uplink
        #: retained payloads this LAN connection has published, so that only changes go out again
        self._lan_sent: dict[str, bytes] = {}
        #: the inventory's content (INVENTORY_CONTENT of each device) when it was last published
        self._inventory_content: bytes | None = None
        self._published_file = state_dir / "published-devices.json"
        self._seq: dict[str, int] = {}
        self._published: set[str] | None = None
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = float("-inf")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._drain_task: asyncio.Task[None] | None = None
        self.router = RequestRouter(topics, view.target, self._reply)
        client.on_message = self._on_message
        client.on_connect.append(self._on_connect)
        client.on_disconnect.append(self._on_disconnect)
        client.subscribe(topics.request_filter, qos=1)

    # --- durable messages (through the outbox) ----------------------------------
    def _envelope(self, stream: str, body: Mapping[str, Any], counter: str | None = None) -> dict[str, Any]:
        key = counter or stream
        seq = self._seq.get(key, 0) + 1
        self._seq[key] = seq
        return {
            **body,
            "seq": seq,
            "session": self.session,
            "ts": now_iso(),
            "msg_id": f"{self.session}:{seq}:{stream}",
        }

    def event(self, device_id: str, name: str, data: Mapping[str, Any],
              priority: Priority = Priority.EVENT) -> dict[str, Any]:
        topic = self.topics.event(device_id, name)
        body = self._envelope(topic, data)
        payload = dumps(body)
        self.outbox.put(topic, payload, priority=priority)
        # The same bytes (same msg_id) as on the LAN, so a reader of both sees one event.
        if self.uplink is not None and self.uplink.wants_event(name, priority):
            self.uplink.put(topic, payload, priority=priority)
        return body

    def health(self, data: Mapping[str, Any]) -> dict[str, Any]:
        topic = self.topics.health
        body = self._envelope(topic, data)
        self.outbox.put(topic, dumps(body), priority=Priority.STATE, retain=True)
        return body

    def uplink_health(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """The district's compact health: a stream of its own (own seq), so the district sees no gaps."""
        if self.uplink is None:
            return None
        topic = self.topics.health
        body = self._envelope(topic, data, counter=f"uplink:{topic}")
        self.uplink.put(topic, dumps(body), priority=Priority.STATE, retain=True)
        return body

    def alert(self, alert_id: str, data: Mapping[str, Any]) -> None:
        topic = self.topics.alert(alert_id)
        payload = dumps(self._envelope(topic, data))
        self.outbox.put(topic, payload, priority=Priority.ALERT, retain=True)
        if self.uplink is not None:
            self.uplink.put(topic, payload, priority=Priority.ALERT, retain=True)

    def clear_alert(self, alert_id: str) -> None:
        topic = self.topics.alert(alert_id)
        self.outbox.put(topic, b"", priority=Priority.ALERT, retain=True, envelope=False)
        if self.uplink is not None:
            self.uplink.put(topic, b"", priority=Priority.ALERT, retain=True, envelope=False)

    # --- retained state (republished whole on every connect) ---------------------
    def device_changed(self, device_id: str) -> None:
        """Coalesce state changes: a device that changes 100 times a second publishes 5, while a
        change after a quiet spell (a plug, an unplug) goes out at once."""
        self._dirty.add(device_id)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            wait = max(STATE_GATHER_S, self._last_flush + STATE_FLUSH_S - loop.time())
            self._flush_handle = loop.call_later(wait, self._flush_dirty)

    def inventory_changed(self) -> None:
        self.device_changed("")

    def _flush_dirty(self) -> None:
        self._flush_handle = None
        self._last_flush = asyncio.get_running_loop().time()
        dirty, self._dirty = self._dirty, set()
        snapshots = self.view.device_snapshots()
        messages: list[tuple[str, bytes]] = []
        for device_id in dirty:
            snap = snapshots.get(device_id)
            if snap is not None:
                messages.append((self.topics.device(device_id), dumps(snap)))
                messages.append((self.topics.availability(device_id), snap["availability"].encode()))
        inventory = self.view.inventory()
        content = self._content_of(inventory)
        if content != self._inventory_content:
            self._inventory_content = content
            messages.append((self.topics.inventory, dumps(inventory)))
        self._offer_uplink(messages)
        if not self.client.connected.is_set():
            return  # everything is republished on connect
        # Only what differs from what this connection already published: an availability that
        # stayed `online` through a hundred state changes is not sent a hundred times.
        fresh = [(t, p) for t, p in messages if self._lan_sent.get(t) != p]
        if fresh:
            self._spawn(self._publish_retained(fresh))
        self._remember_published(set(snapshots))

    @staticmethod
    def _content_of(inventory: list[dict[str, Any]]) -> bytes:
        return dumps([{k: item.get(k) for k in INVENTORY_CONTENT} for item in inventory])

    def _offer_uplink(self, messages: list[tuple[str, bytes]]) -> None:
        """The district gets the agent, the lesson, the inventory and availability; not device state."""
        if self.uplink is None:
            return
        district = {self.topics.agent, self.topics.lesson, self.topics.inventory}
        prefix = self.topics.root + "/"
        for topic, payload in messages:
            rest = topic[len(prefix):] if topic.startswith(prefix) else ""
            if topic in district or (rest.count("/") == 1 and rest.endswith("/availability")):
                self.uplink.state(topic, payload)

    def feed_uplink(self) -> None:
        """Give the uplink every retained topic at start, whether or not the classroom's broker is up."""
        self._offer_uplink(self._all_retained()[0])

    def lesson_changed(self) -> None:
        messages = [(self.topics.lesson, dumps(self.view.lesson_payload()))]
        self._offer_uplink(messages)
        self._spawn(self._publish_retained(messages))

    def republish(self) -> None:
        """The `rebirth` request: everything retained, again."""
        self._spawn(self._publish_all_retained())

    def _all_retained(self) -> tuple[list[tuple[str, bytes]], set[str]]:
        snapshots = self.view.device_snapshots()
        inventory = self.view.inventory()
        self._inventory_content = self._content_of(inventory)
        messages = [
            (self.topics.agent, dumps(self.view.agent_state("online"))),
            (self.topics.lesson, dumps(self.view.lesson_payload())),
            (self.topics.inventory, dumps(inventory)),
        ]
        for device_id, snap in snapshots.items():
            messages.append((self.topics.device(device_id), dumps(snap)))
            messages.append((self.topics.availability(device_id), snap["availability"].encode()))
        for gone in self._previously_published() - set(snapshots):
            log.info("clearing retained topics of %s, which this classroom no longer has", gone)
            messages.append((self.topics.device(gone), b""))
            messages.append((self.topics.availability(gone), b""))
        return messages, set(snapshots)

    async def _publish_all_retained(self) -> None:
        messages, ids = self._all_retained()
        self._offer_uplink(messages)
        # Remembered before the await: a state flush that runs meanwhile has newer snapshots
        # and must not be overwritten by this older set when the publishes complete.
        self._remember_published(ids)
        await self._publish_retained(messages)

    async def _publish_retained(self, messages: list[tuple[str, bytes]]) -> None:
        for topic, payload in messages:
            self._lan_sent[topic] = payload
        # Lost messages need no retry: the next connect republishes everything.
        with contextlib.suppress(NotConnected):
            await asyncio.gather(*(self.client.publish(t, p, qos=1, retain=True) for t, p in messages))

    def _previously_published(self) -> set[str]:
        try:
            return set(json.loads(self._published_file.read_text()))
        except (OSError, ValueError):
            return set()

    def _remember_published(self, ids: set[str]) -> None:
        if ids == self._published:
            return
        self._published = ids
        tmp = self._published_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(ids)))
        tmp.replace(self._published_file)

    # --- connection -------------------------------------------------------------
    async def _on_connect(self, url: BrokerUrl, protocol: int) -> None:
        self._lan_sent.clear()
        await self._publish_all_retained()
        connected_since = time.time()
        self._drain_task = asyncio.create_task(self._drain(connected_since))

    def _on_disconnect(self) -> None:
        if self._drain_task is not None:
            self._drain_task.cancel()
            self._drain_task = None

    async def _drain(self, connected_since: float) -> None:
        cfg = self.outbox_config

        async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
            await self.client.publish(topic, payload, qos=qos, retain=retain)

        with contextlib.suppress(NotConnected):
            await self.outbox.drain(publish, connected_since, rate=cfg.drain_rate_per_s,
                                    inflight=cfg.inflight, jitter_s=cfg.reconnect_jitter_s)

    async def _reply(self, topic: str, payload: bytes, request: Message) -> None:
        sends = [self.client.publish(topic, payload, qos=1)]
        if request.response_topic:
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if request.correlation_data is not None:
                props.CorrelationData = request.correlation_data
            sends.append(self.client.publish(request.response_topic, payload, qos=1, properties=props))
        await asyncio.gather(*sends)

    def _on_message(self, message: Message) -> None:
        self.router.submit(message)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def announce_offline(self) -> None:
        """Before a clean shutdown: the same payload the will would have carried."""
        with contextlib.suppress(NotConnected, TimeoutError):
            await asyncio.wait_for(
                self.client.publish(self.topics.agent, dumps(self.view.agent_state("offline")),
                                    qos=1, retain=True), 2)

    async def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        await self.router.close()
        for task in list(self._tasks):
            task.cancel()
        if self._drain_task is not None:
            self._drain_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._drain_task
