"""An independent MQTT client for tests (plain paho with its own thread).

It deliberately shares no code with the daemon's bus, so contract tests do
not test the bus with itself.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    correlation: bytes | None = None

    def json(self) -> Any:
        return json.loads(self.payload)


class Probe:
    def __init__(self, port: int, *, client_id: str | None = None, persistent: bool = False,
                 protocol: int = mqtt.MQTTv5) -> None:
        self.protocol = protocol
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"probe-{uuid.uuid4().hex[:8]}",
                                  protocol=protocol,
                                  clean_session=None if protocol == mqtt.MQTTv5 else not persistent)
        self.persistent = persistent
        self.port = port
        self.messages: list[Received] = []
        self.lock = threading.Condition()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1.0)
        self.subscriptions: list[str] = []
        self.client.on_connect = self._on_connect

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        corr = getattr(props, "CorrelationData", None) if props else None
        with self.lock:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), corr))
            self.lock.notify_all()

    def connect(self) -> Probe:
        kwargs: dict[str, Any] = {}
        if self.protocol == mqtt.MQTTv5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600 if self.persistent else 0
            kwargs = {"clean_start": not self.persistent, "properties": props}
        self.client.connect("127.0.0.1", self.port, keepalive=5, **kwargs)
        self.client.loop_start()
        return self

    def subscribe(self, topic: str) -> None:
        self.subscriptions.append(topic)
        _result, _mid = self.client.subscribe(topic, qos=1)
        time.sleep(0.1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: str | bytes, *, response_topic: str | None = None,
                correlation: bytes | None = None) -> None:
        props = None
        if response_topic is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = response_topic
            if correlation is not None:
                props.CorrelationData = correlation
        self.client.publish(topic, payload, qos=1, properties=props).wait_for_publish(5)

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 10.0) -> Received:
        deadline = time.monotonic() + timeout
        with self.lock:
            seen = 0
            while True:
                for msg in self.messages[seen:]:
                    if predicate(msg):
                        return msg
                seen = len(self.messages)
                left = deadline - time.monotonic()
                if left <= 0:
                    topics = sorted({m.topic for m in self.messages})
                    raise TimeoutError(f"no matching message in {timeout}s; topics seen: {topics}")
                self.lock.wait(left)

    def wait_topic(self, topic: str, timeout: float = 10.0,
                   where: Callable[[Any], bool] | None = None) -> Any:
        def match(m: Received) -> bool:
            if m.topic != topic or not m.payload:
                return False
            if where is None:
                return True
            try:
                return where(m.json())
            except ValueError:
                return where(m.payload.decode())
        return self.wait_for(match, timeout).json()

    def on(self, topic: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]
