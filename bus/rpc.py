"""The client side of the contract, for the CLI and tools: read retained state, send requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from types import TracebackType
from typing import Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from classroomd.bus.client import MQTT5, BrokerUrl, ClientSettings, Message, MqttClient
from classroomd.bus.topics import Topics
from classroomd.core.vocabulary import CodedError


class RemoteError(CodedError):
    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def cli_client_id() -> str:
    return f"classroomd-cli-{uuid.uuid4().hex[:8]}"


class Remote:
    """A short-lived MQTT connection to a classroom's broker."""

    def __init__(self, settings: ClientSettings, base_topic: str = "classroom", site: str | None = None,
                 room: str | None = None) -> None:
        self.base_topic = base_topic
        self.site = site
        self.room = room
        self.client = MqttClient(settings)
        self._retained: dict[str, bytes] = {}
        self._waiters: list[tuple[str, asyncio.Future[Message]]] = []
        self._inbox = f"classroomd-cli/{uuid.uuid4().hex}"
        self._run: asyncio.Task[None] | None = None
        self.client.on_message = self._on_message

    @classmethod
    def for_url(cls, url: str, base_topic: str = "classroom", site: str | None = None,
                room: str | None = None) -> Remote:
        """A connection with no credentials, for tools and benchmarks that name only a broker."""
        return cls(ClientSettings(urls=[BrokerUrl.parse(url)], client_id=cli_client_id(),
                                  reconnect_min_s=0.2, reconnect_max_s=1.0, connect_timeout_s=5.0),
                   base_topic, site, room)

    async def __aenter__(self) -> Remote:
        self._run = asyncio.create_task(self.client.run())
        try:
            # Each URL may take two CONNECT attempts (MQTT 5, then 3.1.1) before the next is tried.
            settings = self.client.settings
            await asyncio.wait_for(self.client.connected.wait(),
                                   max(8.0, 2 * settings.connect_timeout_s * len(settings.urls) + 2))
        except TimeoutError:
            await self.close()
            urls = ", ".join(str(u) for u in self.client.settings.urls)
            raise ConnectionError(f"cannot reach the broker at {urls}") from None
        return self

    async def __aexit__(self, *exc: tuple[type[BaseException] | None, BaseException | None,
                                          TracebackType | None]) -> None:
        await self.close()

    async def close(self) -> None:
        await self.client.stop()
        if self._run is not None:
            self._run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._run

    def _on_message(self, message: Message) -> None:
        self._retained[message.topic] = message.payload
        for topic, waiter in list(self._waiters):
            if _matches(topic, message.topic) and not waiter.done():
                waiter.set_result(message)

    async def _wait(self, topic_filter: str, timeout: float) -> Message:
        waiter: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters.append((topic_filter, waiter))
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._waiters.remove((topic_filter, waiter))

    async def topics(self) -> Topics:
        """Find the classroom: given site/room, or the only one announcing on this broker."""
        if self.site and self.room:
            return Topics(self.base_topic, self.site, self.room)
        pattern = f"{self.base_topic}/{self.site or '+'}/{self.room or '+'}/agent"
        self.client.subscribe(pattern)
        with contextlib.suppress(TimeoutError):
            await self._wait(pattern, 3.0)
        await asyncio.sleep(0.3)  # let the other retained agents arrive too
        found = sorted({tuple(t.split("/")[1:3]) for t, p in self._retained.items()
                        if _matches(pattern, t) and p})
        if not found:
            raise RemoteError("no_classroom", f"no classroomd announces itself under {pattern}")
        if len(found) > 1:
            names = ", ".join(f"{s}/{r}" for s, r in found)
            raise RemoteError("ambiguous", f"this broker serves several classrooms ({names}); "
                                           "pass --site and --room")
        self.site, self.room = found[0]
        return Topics(self.base_topic, self.site, self.room)

    async def retained(self, topic: str, timeout: float = 3.0) -> Any:
        if topic in self._retained:
            return json.loads(self._retained[topic] or b"null")
        self.client.subscribe(topic)
        message = await self._wait(topic, timeout)
        return json.loads(message.payload or b"null")

    async def request(self, target: str, action: str, args: dict[str, Any] | None = None,
                      timeout: float = 30.0) -> dict[str, Any]:
        topics = await self.topics()
        transaction = uuid.uuid4().hex
        body = {**(args or {}), "transaction": transaction}
        if self.client.protocol == MQTT5:
            reply_topic = f"{self._inbox}/{transaction}"
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.ResponseTopic = reply_topic
            props.CorrelationData = transaction.encode()
        else:
            reply_topic = topics.response(target, action)
            props = None
        self.client.subscribe(reply_topic)
        await asyncio.sleep(0.05)  # the SUBACK precedes our request on the same connection
        deadline = asyncio.get_running_loop().time() + timeout
        waiter = asyncio.ensure_future(self._wait_transaction(reply_topic, transaction, timeout))
        await self.client.publish(topics.request(target, action), json.dumps(body), qos=1, properties=props)
        try:
            reply = await asyncio.wait_for(waiter, max(0.1, deadline - asyncio.get_running_loop().time()))
        except TimeoutError:
            raise RemoteError("timeout", f"no reply from {target} to {action!r} within {timeout:g}s") from None
        if reply.get("status") != "ok":
            error = reply.get("error") or {}
            raise RemoteError(str(error.get("code", "error")), str(error.get("message", reply)))
        data: dict[str, Any] = reply.get("data") or {}
        return data

    async def _wait_transaction(self, topic: str, transaction: str, timeout: float) -> dict[str, Any]:
        while True:
            message = await self._wait(topic, timeout)
            with contextlib.suppress(ValueError):
                reply = json.loads(message.payload)
                if isinstance(reply, dict) and reply.get("transaction") == transaction:
                    return reply


def _matches(pattern: str, topic: str) -> bool:
    p_parts, t_parts = pattern.split("/"), topic.split("/")
    for i, part in enumerate(p_parts):
        if part == "#":
            return True
        if i >= len(t_parts) or (part != "+" and part != t_parts[i]):
            return False
    return len(p_parts) == len(t_parts)
