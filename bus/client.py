"""An MQTT client on the asyncio loop, built on paho-mqtt.

paho does the protocol; this module gives it the event loop (socket
callbacks instead of a network thread), a fresh paho client per connection
attempt (so no stale in-flight state crosses a reconnect: the outbox is the
one place that retries), fail-over across several broker URLs, exponential
back-off with jitter, and MQTT 5 with a fall-back to 3.1.1 for brokers such
as amqtt that only speak 3.1.1.

By default paho acknowledges a QoS 1 message as it arrives. A consumer that must not lose what it
received before storing it (central) sets `manual_ack` and a `session_expiry_s`: it acks each
`Message` once stored, and whatever it had not acked when it died is redelivered by the broker from
the persistent session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger("classroomd.bus")

MQTT5 = MQTTProtocolVersion.MQTTv5
MQTT311 = MQTTProtocolVersion.MQTTv311


class NotConnected(ConnectionError):
    """Publishing needs a live connection; the caller keeps the message (the outbox does)."""


@dataclass(frozen=True)
class BrokerUrl:
    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "embedded") or not parts.hostname:
            raise ValueError(f"{url!r}: expected mqtt://HOST:PORT, mqtts://HOST:PORT or embedded://HOST:PORT")
        default = 8883 if parts.scheme == "mqtts" else 1883
        return cls(parts.scheme, parts.hostname, parts.port or default)

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    def __str__(self) -> str:
        scheme = "mqtt" if self.scheme == "embedded" else self.scheme
        return f"{scheme}://{self.host}:{self.port}"


class Traffic:
    """Bytes through one client's sockets, counted where paho reads and writes them.

    These are MQTT bytes (before TLS, which adds its records and handshake on top); a subclass
    can roll counts over, as the uplink does at midnight.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0

    def count_sent(self, n: int) -> None:
        self.sent += n

    def count_received(self, n: int) -> None:
        self.received += n


class _CountingPaho(paho.Client):
    # paho has no hook for socket traffic; its two socket calls are the narrowest place to
    # count what really went out. tests/bytes checks the count against a proxy's, so a paho
    # release that renames them fails a test instead of silently reporting zero.
    traffic: Traffic | None = None

    def _sock_send(self, buf: bytes | bytearray) -> int:
        n = super()._sock_send(buf)
        if self.traffic is not None:
            self.traffic.count_sent(n)
        return n

    def _sock_recv(self, bufsize: int) -> bytes:
        data = super()._sock_recv(bufsize)
        if self.traffic is not None:
            self.traffic.count_received(len(data))
        return data


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass
class ClientSettings:
    urls: list[BrokerUrl]
    client_id: str
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    keepalive_s: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 60.0
    connect_timeout_s: float = 10.0
    #: The first connect waits a random 0…this: classrooms that boot together at 08:00 must not
    #: reach the district's broker in the same second.
    first_connect_jitter_s: float = 0.0
    #: Acknowledge a QoS 1/2 message only when the receiver calls `Message.ack()`, not on arrival.
    manual_ack: bool = False
    #: 0: a clean session per connection. Otherwise the broker keeps the session (subscriptions and
    #: unacknowledged or queued messages) this many seconds after a disconnect: MQTT 5's Session
    #: Expiry Interval, or clean_session=False on 3.1.1 (where the broker's own setting decides how
    #: long). Needs a client id that stays the same across restarts.
    session_expiry_s: int = 0
    #: MQTT 5 Receive Maximum: how many unacknowledged QoS 1/2 messages the broker may send us at
    #: once (0: the broker's default, 20 on Mosquitto). With manual acks it bounds what waits in memory.
    receive_maximum: int = 0


@dataclass
class Message:
    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None
    mid: int = 0
    qos: int = 0
    #: set for a message that waits for `ack()` (manual_ack and QoS > 0)
    _ack: Callable[[], bool] | None = field(default=None, repr=False, compare=False)

    def ack(self) -> bool:
        """Tell the broker this message is taken care of; False when that can no longer be said.

        A message is acked only on the connection it came from: after a reconnect the broker
        redelivers what was not acked on the old one, and its packet ids mean nothing on the new.
        """
        if self._ack is None:
            return True
        return self._ack()


@dataclass
class _Connection:
    client: paho.Client
    url: BrokerUrl
    protocol: MQTTProtocolVersion
    connack: asyncio.Future[ReasonCode]
    closed: asyncio.Future[str]
    pending: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    got_connack: bool = False


OnConnect = Callable[[BrokerUrl, int], Awaitable[None]]
OnMessage = Callable[[Message], None]


class MqttClient:
    def __init__(self, settings: ClientSettings, will: Will | None = None, traffic: Traffic | None = None) -> None:
        self.settings = settings
        self.will = will
        self.traffic = traffic if traffic is not None else Traffic()
        #: connections that reached CONNACK since this client was made
        self.connects = 0
        self.on_connect: list[OnConnect] = []
        self.on_disconnect: list[Callable[[], None]] = []
        self.on_message: OnMessage | None = None
        self.subscriptions: list[tuple[str, int]] = []
        self.connected = asyncio.Event()
        self._conn: _Connection | None = None
        self._protocols: dict[BrokerUrl, MQTTProtocolVersion] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._misc_task: asyncio.Task[None] | None = None

    # --- public API ---------------------------------------------------------
    @property
    def broker(self) -> BrokerUrl | None:
        return self._conn.url if self._conn is not None and self.connected.is_set() else None

    @property
    def protocol(self) -> int | None:
        return self._conn.protocol if self._conn is not None else None

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int = 1,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> None:
        """Publish and, for QoS 1, return when the broker has acknowledged it."""
        conn = self._conn
        if conn is None or not self.connected.is_set():
            raise NotConnected("not connected to a broker")
        if conn.protocol != MQTT5:
            properties = None
        info = conn.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise NotConnected(f"publish refused by the client: {paho.error_string(info.rc)}")
        if qos == 0:
            return
        done = conn.pending.get(info.mid)
        if done is not None and done.done():  # acknowledged before we got here
            conn.pending.pop(info.mid, None)
            return
        if done is None:
            done = asyncio.get_running_loop().create_future()
            conn.pending[info.mid] = done
        await done

    def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now and after every reconnect."""
        self.subscriptions.append((topic_filter, qos))
        if self._conn is not None and self.connected.is_set():
            self._conn.client.subscribe(topic_filter, qos)

    def unsubscribe(self, topic_filter: str) -> None:
        """Stop receiving on a filter now (UNSUBSCRIBE when connected) and after reconnects."""
        known = any(f == topic_filter for f, _qos in self.subscriptions)
        self.subscriptions[:] = [s for s in self.subscriptions if s[0] != topic_filter]
        if known and self._conn is not None and self.connected.is_set():
            self._conn.client.unsubscribe(topic_filter)

    async def run(self) -> None:
        """Connect, stay connected, reconnect with back-off; returns only when stopped."""
        self._loop = asyncio.get_running_loop()
        self._misc_task = asyncio.create_task(self._misc_loop())
        attempt = 0
        index = 0
        try:
            if self.settings.first_connect_jitter_s > 0:
                delay = random.uniform(0, self.settings.first_connect_jitter_s)
                log.info("first connect in %.1fs", delay)
                await asyncio.sleep(delay)
            while not self._stopping:
                url = self.settings.urls[index % len(self.settings.urls)]
                try:
                    await self._connect_and_serve(url)
                    attempt = 0
                except (OSError, ConnectionError, TimeoutError, ssl.SSLError) as exc:
                    log.warning("broker %s: %s", url, exc)
                if self._stopping:
                    break
                index += 1
                # Back off once a whole round of URLs has failed, with jitter so that a
                # district's classrooms do not reconnect in lock-step after an outage.
                if index % len(self.settings.urls) == 0:
                    attempt += 1
                    ceiling = min(self.settings.reconnect_max_s,
                                  self.settings.reconnect_min_s * 2 ** min(attempt, 16))
                    delay = random.uniform(self.settings.reconnect_min_s, max(ceiling, 0.01))
                    log.info("reconnecting in %.1fs", delay)
                    await asyncio.sleep(delay)
        finally:
            if self._misc_task:
                self._misc_task.cancel()

    async def stop(self, graceful: bool = True) -> None:
        """Disconnect. A graceful stop sends DISCONNECT (the will is not published)."""
        self._stopping = True
        conn = self._conn
        if conn is not None:
            if graceful and self.connected.is_set():
                conn.client.disconnect()
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(conn.closed), 2)
            self._drop(conn, "stopped")

    # --- connection -----------------------------------------------------------
    async def _connect_and_serve(self, url: BrokerUrl) -> None:
        # The embedded broker (amqtt) is known to speak 3.1.1 only; asking it for MQTT 5 with a
        # will makes it wait for bytes that never come, so do not try.
        protocol = self._protocols.get(url, MQTT311 if url.scheme == "embedded" else MQTT5)
        conn = await self._open(url, protocol)
        try:
            code = await asyncio.wait_for(asyncio.shield(conn.connack), self.settings.connect_timeout_s)
        except TimeoutError:
            self._drop(conn, "no CONNACK")
            if protocol != MQTT5:
                raise TimeoutError("no CONNACK from the broker") from None
            # amqtt (the embedded broker, or one a school runs) ignores an MQTT 5 CONNECT
            # instead of refusing it: silence is an answer too.
            code = None
        if code is None or code.is_failure:
            if code is not None:
                self._drop(conn, str(code))
            # A 3.1.1-only broker either refuses the version, drops the connection without a
            # CONNACK (amqtt when the CONNECT carries a will) or never answers at all.
            if protocol == MQTT5 and (code is None or _unsupported_protocol(code) or not conn.got_connack):
                log.info("broker %s speaks no MQTT 5; using MQTT 3.1.1", url)
                self._protocols[url] = MQTT311
                conn = await self._open(url, MQTT311)
                try:
                    code = await asyncio.wait_for(asyncio.shield(conn.connack), self.settings.connect_timeout_s)
                except TimeoutError:
                    self._drop(conn, "no CONNACK")
                    raise TimeoutError("no CONNACK from the broker (MQTT 5 nor 3.1.1)") from None
                if code.is_failure:
                    self._drop(conn, str(code))
                    raise ConnectionError(f"connection refused: {code}")
            else:
                raise ConnectionError(f"connection refused: {code}")
        log.info("connected to %s (MQTT %s)", url, "5" if conn.protocol == MQTT5 else "3.1.1")
        for topic_filter, qos in self.subscriptions:
            conn.client.subscribe(topic_filter, qos)
        self.connects += 1
        self.connected.set()
        try:
            for callback in list(self.on_connect):
                await callback(url, conn.protocol)
            reason = await conn.closed
            # Our own DISCONNECT is not news; a broker or network ending the session is.
            if self._stopping:
                log.debug("disconnected from %s: %s", url, reason)
            else:
                log.warning("disconnected from %s: %s", url, reason)
        finally:
            self._drop(conn, "connection lost")

    async def _open(self, url: BrokerUrl, protocol: MQTTProtocolVersion) -> _Connection:
        assert self._loop is not None
        loop = self._loop
        client = _CountingPaho(
            CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            protocol=protocol,
            clean_session=None if protocol == MQTT5 else self.settings.session_expiry_s <= 0,
            manual_ack=self.settings.manual_ack,
        )
        client.traffic = self.traffic
        client.max_inflight_messages_set(0)  # the outbox bounds what is in flight
        client.max_queued_messages_set(0)
        if self.settings.username:
            client.username_pw_set(self.settings.username, self.settings.password)
        if url.tls:
            context = ssl.create_default_context(cafile=self.settings.ca_file)
            if self.settings.cert_file:
                context.load_cert_chain(self.settings.cert_file, self.settings.key_file)
            if self.settings.tls_insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            client.tls_set_context(context)
        if self.will is not None:
            client.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        conn = _Connection(client, url, protocol, loop.create_future(), loop.create_future())
        self._wire(conn, loop)
        self._conn = conn
        properties = None
        if protocol == MQTT5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = max(0, self.settings.session_expiry_s)
            if self.settings.receive_maximum > 0:
                properties.ReceiveMaximum = min(self.settings.receive_maximum, 65535)
        kwargs: dict[str, Any] = {"keepalive": self.settings.keepalive_s}
        if protocol == MQTT5:
            kwargs.update(clean_start=self.settings.session_expiry_s <= 0, properties=properties)
        client.connect_timeout = self.settings.connect_timeout_s
        try:
            # TCP connect and TLS handshake block; everything after runs on the loop.
            await asyncio.to_thread(client.connect, url.host, url.port, **kwargs)
        except BaseException:
            self._drop(conn, "connect failed")
            raise
        return conn

    def _wire(self, conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        client = conn.client
        loop_thread = threading.get_ident()

        def on_loop(fn: Callable[..., object], *args: object) -> None:
            if threading.get_ident() == loop_thread:
                fn(*args)
            else:
                loop.call_soon_threadsafe(fn, *args)

        def fileno(sock: Any) -> int:
            return int(sock.fileno()) if not isinstance(sock, int) else sock

        def socket_open(_c: paho.Client, _u: Any, sock: Any) -> None:
            on_loop(loop.add_reader, fileno(sock), self._guard(conn, client.loop_read))

        def socket_close(_c: paho.Client, _u: Any, sock: Any) -> None:
            on_loop(loop.remove_reader, fileno(sock))
            on_loop(loop.remove_writer, fileno(sock))

        def register_write(_c: paho.Client, _u: Any, sock: Any) -> None:
            on_loop(loop.add_writer, fileno(sock), self._guard(conn, client.loop_write))

        def unregister_write(_c: paho.Client, _u: Any, sock: Any) -> None:
            on_loop(loop.remove_writer, fileno(sock))

        def connected(_c: paho.Client, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
            conn.got_connack = True
            on_loop(_settle, conn.connack, code)

        def disconnected(_c: paho.Client, _u: Any, _f: Any, code: ReasonCode, _p: Any) -> None:
            refused = code if code.is_failure else ReasonCode(PacketTypes.CONNACK, "Unspecified error")
            on_loop(_settle, conn.connack, refused)
            on_loop(_settle, conn.closed, str(code))

        def published(_c: paho.Client, _u: Any, mid: int, _rc: Any, _p: Any) -> None:
            def settle() -> None:
                done = conn.pending.pop(mid, None)
                if done is None:
                    done = loop.create_future()
                    conn.pending[mid] = done
                if not done.done():
                    done.set_result(None)

            on_loop(settle)

        def message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
            props = getattr(msg, "properties", None)
            response_topic = getattr(props, "ResponseTopic", None) if props else None
            correlation = getattr(props, "CorrelationData", None) if props else None
            if self.on_message is None:
                if self.settings.manual_ack and msg.qos > 0:
                    client.ack(msg.mid, msg.qos)  # nobody will: do not hold the broker's window
                return
            ack = self._acker(conn, msg.mid, msg.qos) if self.settings.manual_ack and msg.qos > 0 else None
            self.on_message(Message(msg.topic, bytes(msg.payload), response_topic, correlation,
                                    msg.mid, msg.qos, ack))

        client.on_socket_open = socket_open
        client.on_socket_close = socket_close
        client.on_socket_register_write = register_write
        client.on_socket_unregister_write = unregister_write
        client.on_connect = connected
        client.on_disconnect = disconnected
        client.on_publish = published
        client.on_message = message

    def _acker(self, conn: _Connection, mid: int, qos: int) -> Callable[[], bool]:
        def ack() -> bool:
            if self._conn is not conn or conn.closed.done():
                return False
            return conn.client.ack(mid, qos) == paho.MQTT_ERR_SUCCESS

        return ack

    def _guard(self, conn: _Connection, step: Callable[[], int]) -> Callable[[], None]:
        def run() -> None:
            try:
                rc = step()
            except (OSError, ssl.SSLError) as exc:
                reason = f"socket error: {exc}"
            else:
                if rc in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
                    return
                reason = paho.error_string(rc)
            _settle(conn.connack, ReasonCode(PacketTypes.CONNACK, "Unspecified error"))
            _settle(conn.closed, reason)

        return run

    def _drop(self, conn: _Connection, reason: str) -> None:
        if self._conn is conn:
            was_connected = self.connected.is_set()
            self.connected.clear()
            self._conn = None
            if was_connected:
                for callback in self.on_disconnect:
                    callback()
        sock = conn.client.socket()
        if sock is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock.fileno())
                self._loop.remove_writer(sock.fileno())
        with contextlib.suppress(Exception):
            conn.client._sock_close()
        _settle(conn.closed, reason)
        if not conn.connack.done():
            conn.connack.set_result(ReasonCode(PacketTypes.CONNACK, "Unspecified error"))
        for done in conn.pending.values():
            if not done.done():
                done.set_exception(NotConnected(reason))
        conn.pending.clear()

    async def _misc_loop(self) -> None:
        # paho's keep-alive pings and time-outs run from loop_misc.
        while True:
            await asyncio.sleep(1.0)
            conn = self._conn
            if conn is not None:
                rc = conn.client.loop_misc()
                if rc != paho.MQTT_ERR_SUCCESS and self.connected.is_set():
                    _settle(conn.closed, paho.error_string(rc))


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _unsupported_protocol(code: ReasonCode) -> bool:
    return code.value in (1, 0x84)


def local_host_name() -> str:
    return socket.gethostname()
