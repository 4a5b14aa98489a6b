"""Simulated classrooms that speak the contract, for tests, benchmarks and a demo of central.

Each one is a real MQTT connection (the project's client) with the agent's will, birth,
retained inventory and availability, health every interval, and events now and then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from classroomd.bus.client import BrokerUrl, ClientSettings, MqttClient, Will
from classroomd.bus.topics import Topics

DEVICES = (
    ("panel-front", "panel", "Front panel", "SMART", "SBID-6275"),
    ("scope-1", "microscope", "Microscope", "Levenhuk", "DTX 90"),
    ("tablet-1", "tablet", "Pen tablet", "Wacom", "CTL-472"),
)


#: what a real agent says when a device stops answering
LOST = {"kk": "Құрылғы жауап бермейді", "ru": "Устройство не отвечает", "en": "The device does not answer"}


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class SimClassroom:
    broker: str
    site: str
    room: str
    session: int = 1
    health_interval_s: float = 30.0
    keepalive_s: int = 5
    #: short for tests; a bench passes the agent's defaults (0.5, 60) to see its real back-off
    reconnect_min_s: float = 0.2
    reconnect_max_s: float = 2.0
    base_topic: str = "classroom"
    username: str | None = None
    password: str | None = None
    #: (id, kind, name, vendor, model) of each device the classroom has
    devices: tuple[tuple[str, str, str, str, str], ...] = DEVICES
    topics: Topics = field(init=False)
    client: MqttClient = field(init=False)
    seq: dict[str, int] = field(default_factory=dict)
    availability: dict[str, str] = field(default_factory=dict)
    outbox_depth: int = 0
    active_min: float = 0.0
    lesson: str | None = None
    started: float = field(default_factory=time.time)
    _task: asyncio.Task[None] | None = None
    _health_task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.topics = Topics(self.base_topic, self.site, self.room)
        self.availability = {d[0]: "online" for d in self.devices}
        self._new_client()

    def _agent(self, state: str) -> bytes:
        return json.dumps({"state": state, "session": self.session, "version": "sim", "host": "sim",
                           "started": _now_iso(), "http": "http://127.0.0.1:8080"}).encode()

    def _new_client(self) -> None:
        settings = ClientSettings([BrokerUrl.parse(self.broker)], client_id=f"sim-{self.site}-{self.room}",
                                  username=self.username, password=self.password, keepalive_s=self.keepalive_s,
                                  reconnect_min_s=self.reconnect_min_s,
                                  reconnect_max_s=self.reconnect_max_s)
        self.client = MqttClient(settings, Will(self.topics.agent, self._agent("offline")))
        self.client.on_connect.append(self._birth)

    async def _birth(self, _url: BrokerUrl, _protocol: int) -> None:
        await self.publish(self.topics.agent, self._agent("online"), retain=True)
        await self.publish_inventory()
        for device_id, state in self.availability.items():
            await self.publish(self.topics.availability(device_id), state.encode(), retain=True)

    async def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)

    async def publish_inventory(self) -> None:
        items = [{"id": i, "kind": k, "name": n, "vendor": v, "model": m, "availability": self.availability[i],
                  "status": "ready" if self.availability[i] == "online" else "lost"} for i, k, n, v, m in self.devices]
        await self.publish(self.topics.inventory, json.dumps(items).encode(), retain=True)
        for item in items:
            state = {**item, "serial": f"SN-{self.site}-{self.room}-{item['id']}"}
            await self.publish(self.topics.device(str(item["id"])), json.dumps(state).encode(), retain=True)

    def _next(self, stream: str) -> int:
        self.seq[stream] = self.seq.get(stream, 0) + 1
        return self.seq[stream]

    def envelope(self, stream: str, replayed: bool = False, seq: int | None = None) -> dict[str, Any]:
        number = seq if seq is not None else self._next(stream)
        body: dict[str, Any] = {"seq": number, "session": self.session, "ts": _now_iso(),
                                "msg_id": f"{self.session}:{number}:{stream}"}
        if replayed:
            body["replayed"] = True
        return body

    def health_payload(self, seq: int | None = None, replayed: bool = False) -> dict[str, Any]:
        usage = {"tablet-1": {"active_min": round(self.active_min, 2), "events_per_min": 0}}
        if self.lesson:
            usage["tablet-1"]["lesson_active_min"] = round(self.active_min, 2)
        return {**self.envelope("agent/health", replayed, seq), "status": "ok",
                "uptime_s": round(time.time() - self.started, 1), "outbox_depth": self.outbox_depth,
                "outbox_dropped": 0, "devices": {d[0]: "ready" if self.availability[d[0]] == "online" else "lost"
                                                 for d in self.devices},
                "alerts": 0, "lesson": self.lesson, "usage": usage}

    async def publish_health(self, seq: int | None = None, replayed: bool = False) -> dict[str, Any]:
        body = self.health_payload(seq, replayed)
        await self.publish(self.topics.health, json.dumps(body).encode(), retain=True)
        return body

    async def publish_event(self, device: str = "scope-1", name: str = "captured", replayed: bool = False,
                            body: dict[str, Any] | None = None) -> dict[str, Any]:
        payload = body or {**self.envelope(f"{device}/event/{name}", replayed), "media_id": "m1"}
        await self.publish(self.topics.event(device, name), json.dumps(payload).encode())
        return payload

    async def set_availability(self, device: str, state: str) -> None:
        self.availability[device] = state
        await self.publish(self.topics.availability(device), state.encode(), retain=True)
        await self.publish_inventory()

    async def start_lesson(self, lesson_id: str, subject: str = "Биология", started: str | None = None) -> None:
        """As the agent's `lesson_start`: the retained `B/lesson`; health reports carry its id."""
        self.lesson = lesson_id
        body = {"id": lesson_id, "subject": subject, "teacher": "sim", "started": started or _now_iso()}
        await self.publish(self.topics.lesson, json.dumps(body, ensure_ascii=False).encode(), retain=True)

    async def end_lesson(self) -> None:
        self.lesson = None
        await self.publish(self.topics.lesson, b"{}", retain=True)

    async def raise_alert(self, device: str, code: str, message: dict[str, str] | None = None) -> None:
        body = {**self.envelope(f"alert/{device}-{code}"), "severity": "warning", "device": device, "code": code,
                "message": message or {"kk": code, "ru": code, "en": code}, "since": _now_iso()}
        await self.publish(self.topics.alert(f"{device}-{code}"), json.dumps(body).encode(), retain=True)

    async def clear_alert(self, device: str, code: str) -> None:
        await self.publish(self.topics.alert(f"{device}-{code}"), b"", retain=True)

    async def start(self, health_loop: bool = True) -> None:
        self._task = asyncio.create_task(self.client.run())
        await asyncio.wait_for(self.client.connected.wait(), 10)
        if health_loop:
            self._health_task = asyncio.create_task(self._health_loop())

    async def _health_loop(self) -> None:
        while True:
            with contextlib.suppress(ConnectionError):
                self.active_min += self.health_interval_s / 120  # used half the time
                await self.publish_health()
            await asyncio.sleep(self.health_interval_s)

    async def _halt(self, graceful: bool) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
            self._health_task = None
        if graceful and self.client.connected.is_set():
            with contextlib.suppress(ConnectionError):
                await self.publish(self.topics.agent, self._agent("offline"), retain=True)
        await self.client.stop(graceful=graceful)
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def kill(self) -> None:
        """Drop the connection without DISCONNECT: the broker publishes the will."""
        await self._halt(graceful=False)

    async def stop(self) -> None:
        await self._halt(graceful=True)

    async def restart(self, new_session: bool = True, health_loop: bool = True) -> None:
        """Reconnect, as the agent after a crash (new session) or a network blip (same session)."""
        if new_session:
            self.session += 1
            self.seq.clear()
            self.active_min = 0.0
        self._new_client()
        await self.start(health_loop)


class Simulation:
    """N classrooms on one event loop: each is an asyncio client, not a thread, so 2,000 fit on a
    small machine."""

    def __init__(self, broker: str, classrooms: int, site_prefix: str = "sim-school",
                 health_interval_s: float = 30.0, event_interval_s: float = 10.0,
                 churn_interval_s: float = 0.0) -> None:
        self.rooms = [SimClassroom(broker, f"{site_prefix}-{i // 2 + 1:03d}", f"room-{i % 2 + 1}",
                                   session=random.randint(1, 50), health_interval_s=health_interval_s)
                      for i in range(classrooms)]
        self.event_interval_s = event_interval_s
        #: mean seconds between incidents across the fleet (0: none): a device fails and
        #: recovers, or a classroom drops off and comes back replaying what it kept
        self.churn_interval_s = churn_interval_s
        self._incidents: set[asyncio.Task[None]] = set()

    async def run(self, duration_s: float | None = None) -> None:
        # Spread the connects the way a district's classrooms come up: in small waves, not all
        # in one instant and not one after another (2,000 in a row would take minutes).
        for i in range(0, len(self.rooms), 50):
            await asyncio.gather(*(room.start() for room in self.rooms[i:i + 50]))
            await asyncio.sleep(random.uniform(0, 0.2))
        print(f"{len(self.rooms)} simulated classrooms connected to {self.rooms[0].broker if self.rooms else '-'}",
              flush=True)
        try:
            await asyncio.wait_for(asyncio.gather(self._events(), self._churn()), duration_s)
        except TimeoutError:
            pass
        finally:
            for task in self._incidents:
                task.cancel()
            await asyncio.gather(*self._incidents, return_exceptions=True)
            await asyncio.gather(*(room.stop() for room in self.rooms), return_exceptions=True)

    async def _churn(self) -> None:
        if self.churn_interval_s <= 0 or not self.rooms:
            return
        while True:
            await asyncio.sleep(random.expovariate(1 / self.churn_interval_s))
            room = random.choice(self.rooms)
            incident = self._device_fails(room) if random.random() < 0.7 else self._drops_off(room)
            task = asyncio.create_task(incident)
            self._incidents.add(task)
            task.add_done_callback(self._incidents.discard)

    @staticmethod
    async def _device_fails(room: SimClassroom) -> None:
        device = random.choice(room.devices)[0]
        if room.availability.get(device) != "online" or not room.client.connected.is_set():
            return
        with contextlib.suppress(ConnectionError):
            await room.set_availability(device, "offline")
            await room.raise_alert(device, "lost", LOST)
            await asyncio.sleep(random.uniform(20, 90))
            await room.set_availability(device, "online")
            await room.clear_alert(device, "lost")

    @staticmethod
    async def _drops_off(room: SimClassroom) -> None:
        if not room.client.connected.is_set():
            return
        await room.kill()
        await asyncio.sleep(random.uniform(30, 120))
        # Back with the same session: the link came back, and what waited in the outbox follows.
        await room.restart(new_session=False)
        with contextlib.suppress(ConnectionError):
            for _ in range(3):
                await room.publish_event(replayed=True)

    async def _events(self) -> None:
        if self.event_interval_s <= 0 or not self.rooms:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(random.expovariate(len(self.rooms) / self.event_interval_s))
            room = random.choice(self.rooms)
            with contextlib.suppress(ConnectionError):
                await room.publish_event()
