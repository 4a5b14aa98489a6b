"""Central acknowledges a message only once it is committed: SIGKILLed mid-ingest and started
again, it loses no event and stores none twice; health redelivered after a restart counts no usage
twice; an events-only ingester stopped on purpose leaves no share of the event lane behind. The
client's default (ack on arrival) is unchanged.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from classroomd.bus.client import BrokerUrl, ClientSettings, Message, MqttClient
from classroomd.central import schema
from classroomd.central.db import open_database
from classroomd.central.ingester import Ingester
from classroomd.central.simulate import SimClassroom
from tests.central.harness import Central, wait_for
from tests.support.mosquitto import Mosquitto, free_port, wait_port

ROOMS = 10
PER_ROOM = 200


class CentralProcess:
    """`classroomd central run` as deployed: its own process, so SIGKILL is a real crash."""

    def __init__(self, broker: str, db: str, workdir: Path) -> None:
        self.broker, self.db, self.workdir = broker, db, workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.config = workdir / "central.toml"
        # Small batches: the ingest of the backlog takes long enough to be killed halfway through.
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text('[central]\nclient_id = "central-crash-test"\nbatch_max = 10\nbatch_ms = 5\n',
                               encoding="utf-8")

    def _spawn(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "classroomd.daemon.cli", "central", "run", "--config", str(self.config),
             "--db", self.db, "--broker", self.broker, "--http", f"127.0.0.1:{self.port}",
             "--state-dir", str(self.workdir / "state"), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL)

    async def start(self) -> None:
        self._spawn()
        await asyncio.to_thread(wait_port, self.port, 30)
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                async with http.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                    if (await response.json()).get("broker") == "connected":
                        return
                await asyncio.sleep(0.05)
        raise AssertionError("central did not connect to the broker")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def terminate(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@pytest.fixture
async def central_process(mosquitto: Mosquitto, db_url: str, tmp_path: Path) -> AsyncIterator[CentralProcess]:
    process = CentralProcess(mosquitto.url, db_url, tmp_path / "central")
    try:
        yield process
    finally:
        process.terminate()


async def event_ids(db: str) -> list[tuple[str, str]]:
    engine = await open_database(db)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(schema.events.c.room, schema.events.c.msg_id))
            return [(str(room), str(msg_id)) for room, msg_id in rows]
    finally:
        await engine.dispose()


async def event_count(db: str) -> int:
    engine = await open_database(db)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(schema.events))).scalar_one())
    finally:
        await engine.dispose()


async def test_sigkill_mid_ingest_loses_nothing_and_duplicates_nothing(
        central_process: CentralProcess, mosquitto: Mosquitto, db_url: str) -> None:
    await central_process.start()
    rooms = [SimClassroom(mosquitto.url, "crash-school", f"room-{i}") for i in range(ROOMS)]
    for room in rooms:
        await room.start(health_loop=False)
    sent: list[tuple[str, str]] = []

    async def publish_all(room: SimClassroom) -> None:
        for _ in range(PER_ROOM):
            body = await room.publish_event()
            sent.append((room.room, str(body["msg_id"])))

    publishing = asyncio.gather(*(publish_all(room) for room in rooms))
    # Kill central once part of the backlog is committed: it has received much more than that
    # (and, acking on arrival, would have lost it with the process).
    committed_at_kill = 0
    for _ in range(2000):
        committed_at_kill = await event_count(db_url)
        if committed_at_kill >= 100:
            break
        await asyncio.sleep(0.01)
    central_process.kill()
    await publishing
    total = ROOMS * PER_ROOM
    assert 0 < committed_at_kill < total, f"the kill missed the ingest window ({committed_at_kill} committed)"

    # What was published while central was dead waits in its session; the rest is redelivered.
    await central_process.start()
    for _ in range(1200):
        if await event_count(db_url) >= total:
            break
        await asyncio.sleep(0.05)
    stored = await event_ids(db_url)
    assert len(sent) == total
    assert sorted(stored) == sorted(sent)  # every event, each once
    for room in rooms:
        await room.stop()


def _settings(url: str, client_id: str, manual_ack: bool) -> ClientSettings:
    return ClientSettings([BrokerUrl.parse(url)], client_id=client_id, manual_ack=manual_ack,
                          session_expiry_s=600, keepalive_s=5)


async def _receiver(url: str, client_id: str, manual_ack: bool) -> tuple[MqttClient, asyncio.Task[None],
                                                                       asyncio.Queue[Message]]:
    client = MqttClient(_settings(url, client_id, manual_ack))
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    client.on_message = inbox.put_nowait
    client.subscribe("ack-test/#", 1)
    task = asyncio.create_task(client.run())
    await asyncio.wait_for(client.connected.wait(), 10)
    return client, task, inbox


async def _crash(client: MqttClient, task: asyncio.Task[None]) -> None:
    # No DISCONNECT: the broker keeps the session as after a SIGKILL.
    await asyncio.sleep(0.3)  # whatever the client did send has reached the broker
    await client.stop(graceful=False)
    await asyncio.gather(task, return_exceptions=True)


async def _publish(url: str, payload: bytes) -> None:
    publisher = MqttClient(ClientSettings([BrokerUrl.parse(url)], client_id="ack-test-publisher"))
    task = asyncio.create_task(publisher.run())
    await asyncio.wait_for(publisher.connected.wait(), 10)
    await publisher.publish("ack-test/one", payload, qos=1)
    await publisher.stop()
    await asyncio.gather(task, return_exceptions=True)


async def _nothing_within(inbox: asyncio.Queue[Message], seconds: float) -> bool:
    try:
        await asyncio.wait_for(inbox.get(), seconds)
    except TimeoutError:
        return True
    return False



async def test_default_client_acks_on_arrival(mosquitto: Mosquitto) -> None:
    client, task, inbox = await _receiver(mosquitto.url, "ack-test-default", False)
    await _publish(mosquitto.url, b"first")
    message = await asyncio.wait_for(inbox.get(), 10)
    assert message.payload == b"first" and message.qos == 1
    assert message.ack()  # nothing to do: paho acked it on arrival
    await _crash(client, task)
    client, task, inbox = await _receiver(mosquitto.url, "ack-test-default", False)
    assert await _nothing_within(inbox, 1.5), "a message acked on arrival came again"
    await client.stop()
    await asyncio.gather(task, return_exceptions=True)


async def test_manual_ack_redelivers_until_acked(mosquitto: Mosquitto) -> None:
    client, task, inbox = await _receiver(mosquitto.url, "ack-test-manual", True)
    await _publish(mosquitto.url, b"keep me")
    unacked = await asyncio.wait_for(inbox.get(), 10)
    await _crash(client, task)
    # From a connection that is gone: not acked on any other.
    assert not unacked.ack()

    client, task, inbox = await _receiver(mosquitto.url, "ack-test-manual", True)
    again = await asyncio.wait_for(inbox.get(), 10)
    assert again.payload == b"keep me"
    assert again.ack()
    await _crash(client, task)

    client, task, inbox = await _receiver(mosquitto.url, "ack-test-manual", True)
    assert await _nothing_within(inbox, 1.5), "an acked message came again"
    await client.stop()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_events_only_ingester_stopped_on_purpose_leaves_no_share_behind(central: Central) -> None:
    # Mosquitto keeps handing an offline member of a shared subscription its share; one scaled
    # away (SIGTERM) must hand it back, or half the events would wait for it.
    engine = await open_database(central.db)
    second = Ingester(central.cfg.model_copy(update={"client_id": "central-scaled-away", "lanes": "events"}),
                      engine)
    await second.start()
    task = asyncio.create_task(second.run())
    try:
        await wait_for(lambda: _connected(second), 10, "the second ingester")
    finally:
        second.stop()
        await task
        await engine.dispose()
    sim = SimClassroom(central.broker, "kz-scale", "bio")
    await sim.start(health_loop=False)
    for _ in range(40):
        await sim.publish_event()

    async def all_stored() -> bool:
        return await event_count(central.db) == 40

    await wait_for(all_stored, 15, "all 40 events through the remaining ingester")
    await sim.stop()


async def _connected(ingester: Ingester) -> bool:
    return bool(ingester.client.connected.is_set())


async def test_health_redelivered_after_a_restart_counts_no_usage_twice(central: Central) -> None:
    # Committed, then central died before its PUBACKs left: the broker sends the reports again to
    # the restarted central, which must find them already counted.
    sim = SimClassroom(central.broker, "kz-redeliver", "bio")
    await sim.start(health_loop=False)
    sim.active_min = 5.0
    await sim.publish_health()  # live: the baseline of the usage counters
    redelivered = []
    for active in (10.0, 12.0):  # an outbox's backlog, replayed
        sim.active_min = active
        redelivered.append(sim.health_payload(replayed=True))
    for body in redelivered:
        await sim.publish(sim.topics.health, json.dumps(body).encode())

    async def used() -> float:
        engine = await open_database(central.db)
        try:
            async with engine.connect() as conn:
                total = (await conn.execute(select(func.sum(schema.usage_daily.c.active_min))
                                            .where(schema.usage_daily.c.site == "kz-redeliver"))).scalar_one()
                return float(total or 0.0)
        finally:
            await engine.dispose()

    async def counted() -> bool:
        return await used() == 7.0

    await wait_for(counted, 10, "7 minutes of use")
    await central.stop()
    await central.start()
    for body in redelivered:
        await sim.publish(sim.topics.health, json.dumps(body).encode())
    await sim.publish_event()  # after the reports in the history lane: once stored, they were handled

    async def event_stored() -> bool:
        return await event_count(central.db) == 1

    await wait_for(event_stored, 10, "the event after the redelivered reports")
    assert await used() == 7.0
    await sim.stop()
