"""The embedded broker (`embedded://`) on both back-ends: clients that bring no client id,
Mosquitto as a private child process, and the fall-back to amqtt."""

from __future__ import annotations

import asyncio
import inspect
import logging
import shutil
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from classroomd.daemon import embedded_broker
from classroomd.daemon.embedded_broker import BACKEND_ENV, Backend, EmbeddedBroker, mosquitto_binary
from tests.support.mosquitto import free_port

no_mosquitto = pytest.mark.skipif(mosquitto_binary() is None, reason="the mosquitto package is not installed")
no_mosquitto_sub = pytest.mark.skipif(shutil.which("mosquitto_sub") is None,
                                      reason="the mosquitto-clients package is not installed")
BACKENDS = [pytest.param("amqtt"), pytest.param("mosquitto", marks=no_mosquitto)]


@pytest.fixture(params=BACKENDS)
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    backend: Backend = request.param
    running = EmbeddedBroker("127.0.0.1", free_port(), tmp_path / "state", backend=backend)
    await running.start()
    assert running.backend == backend
    yield running
    await running.stop()


class MosquittoSub:
    """A real `mosquitto_sub`, the command the README prints: it sends a zero-length client id."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.messages: list[str] = []
        self.connect_line = ""
        self.subscribed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, port: int, topic_filter: str) -> MosquittoSub:
        proc = await asyncio.create_subprocess_exec(
            "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic_filter, "-V", "mqttv311",
            "-v", "-d", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        sub = cls(proc)
        await asyncio.wait_for(sub.subscribed.wait(), 10)
        return sub

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().rstrip("\n")
            # -d interleaves the protocol trace with the messages; -v prints "topic payload".
            if line.startswith("Client "):
                if "sending CONNECT" in line:
                    self.connect_line = line
            elif line.startswith("Subscribed "):
                self.subscribed.set()
            elif line:
                self.messages.append(line)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
        await self.proc.wait()
        await self._reader


class NoIdClient:
    """paho with client_id="": an MQTT 3.1.1 CONNECT with a zero-length client identifier."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311,
                                  clean_session=True)
        self.messages: list[str] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(f"{msg.topic} {msg.payload.decode()}")

    def subscribe(self, topic_filter: str) -> None:
        self.client.subscribe(topic_filter, qos=1)
        assert self._subscribed.wait(10), "no SUBACK"

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def settle(received: list[list[str]], expected: list[list[str]], timeout: float = 10) -> None:
    """Wait for what is expected, then a little longer, so that duplicates have time to show."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and any(len(got) < len(want) for got, want in zip(received, expected, strict=True)):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


@no_mosquitto_sub
async def test_clients_without_an_id_receive_only_their_own_topics_once(broker: EmbeddedBroker) -> None:
    port = broker.port
    publisher = await asyncio.to_thread(NoIdClient, port)
    # Retained state is what a subscriber gets first: it is where amqtt leaked other clients' topics.
    await asyncio.to_thread(publisher.publish, "a/state", "a-retained", True)
    await asyncio.to_thread(publisher.publish, "b/state", "b-retained", True)
    sub_a = await MosquittoSub.start(port, "a/#")
    sub_b = await MosquittoSub.start(port, "b/#")
    paho_b = await asyncio.to_thread(NoIdClient, port)
    await asyncio.to_thread(paho_b.subscribe, "b/#")
    try:
        await asyncio.to_thread(publisher.publish, "a/x", "a-live")
        await asyncio.to_thread(publisher.publish, "b/y", "b-live")
        expected_a, expected_b = ["a/state a-retained", "a/x a-live"], ["b/state b-retained", "b/y b-live"]
        await settle([sub_a.messages, sub_b.messages, paho_b.messages], [expected_a, expected_b, expected_b])
    finally:
        await sub_a.stop()
        await sub_b.stop()
        await asyncio.to_thread(paho_b.close)
        await asyncio.to_thread(publisher.close)
    # The premise: mosquitto_sub really connected without a client id.
    assert "(null)" in sub_a.connect_line and "(null)" in sub_b.connect_line
    assert sorted(sub_a.messages) == expected_a
    assert sorted(sub_b.messages) == expected_b
    assert sorted(paho_b.messages) == expected_b


def raw_connect(port: int, clean_session: bool) -> bytes:
    """CONNECT, MQTT 3.1.1, keep-alive 60, zero-length client id; returns the CONNACK."""
    flags = 0x02 if clean_session else 0x00
    packet = b"\x10\x0c\x00\x04MQTT\x04" + bytes([flags]) + b"\x00\x3c" + b"\x00\x00"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(packet)
        reply = b""
        while len(reply) < 4:
            chunk = sock.recv(4 - len(reply))
            if not chunk:
                break
            reply += chunk
        return reply


async def test_an_empty_id_needs_a_clean_session(broker: EmbeddedBroker) -> None:
    # MQTT 3.1.1 §3.1.3.1: zero-length id with CleanSession=0 -> CONNACK 0x02, identifier rejected.
    assert await asyncio.to_thread(raw_connect, broker.port, False) == b"\x20\x02\x00\x02"
    assert await asyncio.to_thread(raw_connect, broker.port, True) == b"\x20\x02\x00\x00"


def test_the_amqtt_hook_of_the_fix_is_there() -> None:
    """The amqtt fix overrides a private method; an amqtt release that renames it must fail here."""
    from amqtt.broker import Broker

    hook = Broker._publish_retained_messages_for_subscription
    assert inspect.iscoroutinefunction(hook)
    assert list(inspect.signature(hook).parameters) == ["self", "subscription", "session"]


@no_mosquitto
async def test_mosquitto_is_the_default_and_keeps_retained_messages(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    port, state = free_port(), tmp_path / "state"
    broker = EmbeddedBroker("127.0.0.1", port, state)
    await broker.start()
    try:
        assert broker.backend == "mosquitto" and broker.mqtt5
        assert f"listener {port} 127.0.0.1" in (state / "broker" / "mosquitto.conf").read_text()
        client = await asyncio.to_thread(NoIdClient, port)
        await asyncio.to_thread(client.publish, "c/state", "kept", True)
        await asyncio.to_thread(client.close)
    finally:
        await broker.stop()
    assert (state / "broker" / "mosquitto.db").exists()

    broker = EmbeddedBroker("127.0.0.1", port, state)
    await broker.start()
    try:
        client = await asyncio.to_thread(NoIdClient, port)
        await asyncio.to_thread(client.subscribe, "c/#")
        await settle([client.messages], [["c/state kept"]])
        await asyncio.to_thread(client.close)
        assert client.messages == ["c/state kept"]
    finally:
        await broker.stop()


async def test_the_environment_can_force_amqtt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "amqtt")
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp_path / "state")
    await broker.start()
    try:
        assert broker.backend == "amqtt" and not broker.mqtt5
        assert not (tmp_path / "state" / "broker").exists()
    finally:
        await broker.stop()


@pytest.mark.parametrize("script", [
    pytest.param("echo 'Error: simulated failure' >&2; exit 3", id="exits"),
    pytest.param("exec sleep 30", id="never-listens"),
])
async def test_a_mosquitto_that_does_not_start_falls_back_to_amqtt(
        script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    fake = tmp_path / "mosquitto"
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setattr(embedded_broker, "mosquitto_binary", lambda: str(fake))
    monkeypatch.setattr(embedded_broker, "_START_TIMEOUT_S", 0.5)
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp_path / "state")
    with caplog.at_level(logging.INFO, logger="classroomd.broker"):
        await broker.start()
    try:
        assert broker.backend == "amqtt"
        warnings = [r.getMessage() for r in caplog.records
                    if r.name == "classroomd.broker" and r.levelno >= logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "mosquitto did not start" in warnings[0] and "using amqtt" in warnings[0]
        if "exit" in script:
            assert "simulated failure" in warnings[0]
        assert await asyncio.to_thread(raw_connect, broker.port, True) == b"\x20\x02\x00\x00"
        assert not [p for p in psutil.Process().children(recursive=True) if "sleep" in p.name()]
    finally:
        await broker.stop()


def mosquitto_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.name() == "mosquitto"]


async def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline and not condition():
        await asyncio.sleep(0.1)


@no_mosquitto
async def test_a_mosquitto_that_dies_is_restarted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_broker, "_MIN_UPTIME_S", 0.0)
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp_path / "state", backend="mosquitto")
    await broker.start()
    try:
        [child] = mosquitto_children()
        child.kill()
        await wait_until(lambda: [p.pid for p in mosquitto_children()] not in ([], [child.pid]))
        assert len(mosquitto_children()) == 1 and broker.backend == "mosquitto"
        assert await asyncio.to_thread(raw_connect, broker.port, True) == b"\x20\x02\x00\x00"
    finally:
        await broker.stop()
    assert mosquitto_children() == []


@no_mosquitto
async def test_a_mosquitto_that_dies_right_after_starting_gives_way_to_amqtt(tmp_path: Path) -> None:
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp_path / "state", backend="mosquitto")
    await broker.start()
    try:
        [child] = mosquitto_children()
        child.kill()
        await wait_until(lambda: broker.backend == "amqtt")
        assert broker.backend == "amqtt" and mosquitto_children() == []
        assert await asyncio.to_thread(raw_connect, broker.port, True) == b"\x20\x02\x00\x00"
    finally:
        await broker.stop()


DAEMON = """
import asyncio, sys
from pathlib import Path
from classroomd.daemon.embedded_broker import EmbeddedBroker

async def main() -> None:
    await EmbeddedBroker("127.0.0.1", int(sys.argv[1]), Path(sys.argv[2]), backend="mosquitto").start()
    print("ready", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@no_mosquitto
async def test_mosquitto_does_not_outlive_a_killed_daemon(tmp_path: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", DAEMON, str(port), str(tmp_path / "state"),
                                                stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"ready\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        try:
            await asyncio.to_thread(raw_connect, port, True)
        except OSError:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"something still listens on port {port} after the daemon was killed")
