"""The agent: one classroom's devices, its lesson, its bus and its HTTP server.

It is the `DeviceHost` every device reports to, the `WebContext` the HTTP
layer reads, and the `ClassroomView` the MQTT layer publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from classroomd import __version__
from classroomd.bus.broker_settings import client_settings
from classroomd.bus.classroom_bus import ClassroomBus, dumps
from classroomd.bus.client import BrokerUrl, MqttClient, Will
from classroomd.bus.outbox import Outbox
from classroomd.bus.payloads import LessonStartArgs
from classroomd.bus.router import Target
from classroomd.bus.topics import Topics
from classroomd.bus.uplink import Uplink
from classroomd.config.schema import Config, DeviceConfig
from classroomd.core.retry import RetryPolicy
from classroomd.core.timestamps import now_iso
from classroomd.core.vocabulary import Kind
from classroomd.daemon import state_dir as state_files
from classroomd.daemon.embedded_broker import EmbeddedBroker
from classroomd.daemon.hotplug import LISTED_ONLY, HotPlug
from classroomd.daemon.lesson import LessonBook
from classroomd.daemon.registry import Registry
from classroomd.daemon.supervisor import Supervisor
from classroomd.devices import device_class
from classroomd.devices.base import (
    ActionTarget,
    Device,
    Lesson,
    Localized,
    NoArgs,
    Priority,
    RequestError,
    Status,
    action,
)
from classroomd.web import server as http_server

if TYPE_CHECKING:
    from classroomd.services.board_hub import BoardHub
    from classroomd.services.linked_lesson import LinkedLesson
    from classroomd.services.media import MediaStore
    from classroomd.services.uploads import UploadStore

log = logging.getLogger("classroomd.agent")


class DescribeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str | None = Field(None, description="one device id; all devices when omitted")


class LinkedOfferArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    media: str


class LinkedAcceptArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(description="`{site}/{room}` of the linked classroom whose offer to show")


class LinkedDismissArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(description="`{site}/{room}` of the linked classroom whose offer to dismiss")


class CaptureAndShowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    microscope: str
    panel: str


class AgentActions(ActionTarget):
    """Requests addressed to `B/agent/request/{action}`."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def target_label(self) -> str:
        return "the agent"

    @action("ping", description="Liveness check; replies with version, session and uptime.")
    async def ping(self, _args: NoArgs) -> dict[str, Any]:
        a = self.agent
        return {"pong": True, "version": __version__, "session": a.session,
                "uptime_s": round(time.monotonic() - a.started_monotonic, 1)}

    @action("rescan", description="Re-read the configured devices and restart those that are faulty.")
    async def rescan(self, _args: NoArgs) -> dict[str, Any]:
        return await self.agent.rescan()

    @action("rebirth", description="Republish every retained topic.")
    async def rebirth(self, _args: NoArgs) -> dict[str, Any]:
        if self.agent.bus is not None:
            self.agent.bus.republish()
        return {"devices": len(self.agent.registry)}

    @action("lesson_start", LessonStartArgs, "Start a lesson; captures, pushes and prints are tagged with it.")
    async def lesson_start(self, args: LessonStartArgs) -> dict[str, Any]:
        lesson = self.agent.lessons.start(args.subject, args.teacher, args.id)
        self.agent.lesson_changed()
        # No `linked` in the request: the config's [linked] rooms; an explicit [] links none.
        rooms = args.linked if "linked" in args.model_fields_set else self.agent.config.linked.rooms
        linked = self.agent.linked.lesson_started(lesson.as_dict(), rooms) if self.agent.linked else None
        return {"lesson": lesson.as_dict(), **({"linked": linked} if linked is not None else {})}

    @action("lesson_end", description="End the current lesson.")
    async def lesson_end(self, _args: NoArgs) -> dict[str, Any]:
        ended = self.agent.lessons.end()
        if ended is None:
            raise RequestError("no_lesson", "no lesson is running")
        self.agent.lesson_changed()
        if self.agent.linked is not None:
            self.agent.linked.lesson_ended(ended.id)
        return {"lesson": ended.as_dict()}

    @action("linked_offer", LinkedOfferArgs, "Offer a capture to the hub's panel in a linked lesson.")
    async def linked_offer(self, args: LinkedOfferArgs) -> dict[str, Any]:
        return await self.agent.linked_lesson().offer(args.media)

    @action("linked_accept", LinkedAcceptArgs, "Show a linked classroom's offered capture here (the hub).")
    async def linked_accept(self, args: LinkedAcceptArgs) -> dict[str, Any]:
        return await self.agent.linked_lesson().accept(args.room)

    @action("linked_dismiss", LinkedDismissArgs, "Dismiss a linked classroom's offered capture (the hub).")
    async def linked_dismiss(self, args: LinkedDismissArgs) -> dict[str, Any]:
        return self.agent.linked_lesson().dismiss(args.room)

    @action("describe", DescribeArgs, "What each device exposes: properties, actions and their arguments.")
    async def describe(self, args: DescribeArgs) -> dict[str, Any]:
        devices = list(self.agent.registry)
        if args.device is not None:
            found = self.agent.registry.get(args.device)
            if found is None:
                raise RequestError("unknown_device", f"no device {args.device!r} in this classroom")
            devices = [found]
        return {"devices": [d.describe() for d in devices]}

    @action("capture_and_show", CaptureAndShowArgs,
            "Capture from a microscope and show the still on a panel's board, in one step.")
    async def capture_and_show(self, args: CaptureAndShowArgs) -> dict[str, Any]:
        from classroomd.daemon.push import capture_and_show

        return dict(await capture_and_show(self.agent, args.microscope, args.panel))


def alert_id(device_id: str, code: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", f"{device_id}-{code}".lower()).strip("-")


class Agent:
    def __init__(self, config: Config, demo_devices: list[DeviceConfig] | None = None) -> None:
        self.config = config
        self.demo_devices = demo_devices or []
        self._state_dir = state_files.prepare(Path(config.agent.state_dir))
        self.session = state_files.next_session(self._state_dir)
        self._token = state_files.token(self._state_dir)
        self.started = now_iso()
        self.started_monotonic = time.monotonic()
        self.topics = Topics(config.mqtt.base_topic, config.site, config.room)
        self.registry = Registry()
        self.lessons = LessonBook(self._state_dir)
        self.supervisor = Supervisor(self, self.retry_policy)
        self.actions = AgentActions(self)
        self.alerts: dict[str, dict[str, Any]] = {}
        self.bus: ClassroomBus | None = None
        self.client: MqttClient | None = None
        self.outbox: Outbox | None = None
        self.uplink: Uplink | None = None
        #: the usage counters last put in the district's health, per device
        self._uplink_usage: dict[str, dict[str, Any]] = {}
        self.http: http_server.HttpServer | None = None
        self.broker: EmbeddedBroker | None = None
        self.hotplug = HotPlug(self)
        self._media: MediaStore | None = None
        self._uploads: UploadStore | None = None
        self._board: BoardHub | None = None
        self.linked: LinkedLesson | None = None
        self._linked_client: MqttClient | None = None
        self._live_seen: dict[str, int] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.registry.on_added.append(lambda d: self._inventory_changed())
        self.registry.on_removed.append(lambda d: self._inventory_changed())

    # --- DeviceHost / WebContext -----------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self._state_dir

    @property
    def token(self) -> str:
        return self._token

    @property
    def http_base(self) -> str:
        if self.config.http.public_url:
            return self.config.http.public_url.rstrip("/")
        return self.http.base_url if self.http is not None else ""

    @property
    def lesson(self) -> Lesson | None:
        return self.lessons.current

    def device(self, device_id: str) -> Device | None:
        return self.registry.get(device_id)

    def all_devices(self) -> list[Device]:
        return list(self.registry)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.config.agent.reopen_min_s, self.config.agent.reopen_max_s)

    def device_lost(self, device: Device) -> None:
        self.supervisor.recover(device)

    def state_changed(self, device: Device) -> None:
        if self.bus is not None:
            self.bus.device_changed(device.id)

    def emit(self, device: Device, name: str, data: Mapping[str, Any],
             priority: Priority = Priority.EVENT) -> None:
        if self.bus is not None:
            self.bus.event(device.id, name, data, priority)
        log.info("event %s", name, extra={"device": device.id})

    def alert(self, device: Device, code: str, severity: str, message: Localized) -> None:
        key = alert_id(device.id, code)
        if key in self.alerts and self.alerts[key]["message"] == message.as_dict():
            return
        body = {"severity": severity, "device": device.id, "code": code,
                "message": message.as_dict(),
                "since": self.alerts.get(key, {}).get("since", now_iso())}
        self.alerts[key] = body
        log.warning("alert %s: %s", code, message.en, extra={"device": device.id})
        if self.bus is not None:
            self.bus.alert(key, body)

    def clear_alert(self, device: Device, code: str) -> None:
        key = alert_id(device.id, code)
        if self.alerts.pop(key, None) is not None and self.bus is not None:
            log.info("alert %s cleared", code, extra={"device": device.id})
            self.bus.clear_alert(key)

    # The services are built on first use: the media store pulls in OpenCV, which a classroom
    # without a microscope need not load.
    @property
    def media(self) -> MediaStore:
        if self._media is None:
            from classroomd.services.media import MediaStore

            # The running lesson's media are never evicted, whoever saves them.
            self._media = MediaStore(self._state_dir / "media", current_lesson=lambda: (
                self.lessons.current.id if self.lessons.current else None))
        return self._media

    @property
    def uploads(self) -> UploadStore:
        if self._uploads is None:
            from classroomd.services.uploads import UploadStore

            self._uploads = UploadStore(self._state_dir / "uploads")
        return self._uploads

    @property
    def board(self) -> BoardHub:
        if self._board is None:
            from classroomd.services.board_hub import BoardHub

            self._board = BoardHub(self._state_dir / "board")
        return self._board

    # --- ClassroomView --------------------------------------------------------------
    def agent_state(self, state: str) -> dict[str, Any]:
        return {"state": state, "session": self.session, "version": __version__,
                "host": socket.gethostname(), "started": self.started, "http": self.http_base}

    def inventory(self) -> list[dict[str, Any]]:
        return [{k: d.snapshot()[k] for k in ("id", "kind", "name", "vendor", "model",
                                              "availability", "status")} for d in self.registry]

    def device_snapshots(self) -> dict[str, dict[str, Any]]:
        return {d.id: d.snapshot() for d in self.registry}

    def lesson_payload(self) -> dict[str, Any]:
        return self.lessons.current.as_dict() if self.lessons.current else {}

    def target(self, target_id: str) -> Target | None:
        if target_id == "agent":
            return self.actions
        return self.registry.get(target_id)

    def lesson_changed(self) -> None:
        if self.bus is not None:
            self.bus.lesson_changed()

    def _inventory_changed(self) -> None:
        if self.bus is not None:
            self.bus.inventory_changed()

    # --- health -----------------------------------------------------------------------
    def health_payload(self) -> dict[str, Any]:
        statuses = {d.id: str(d.status) for d in self.registry}
        faulty = [s for s in statuses.values() if s in (Status.FAULT, Status.LOST)]
        status = "ok" if not faulty else ("fault" if len(faulty) == len(statuses) else "degraded")
        broker = self.client.broker if self.client is not None else None
        return {
            "status": status,
            "uptime_s": round(time.monotonic() - self.started_monotonic, 1),
            "outbox_depth": self.outbox.depth if self.outbox else 0,
            "outbox_dropped": self.outbox.dropped if self.outbox else 0,
            "devices": statuses,
            "connected_broker": str(broker) if broker else None,
            "alerts": len(self.alerts),
            "lesson": self.lessons.current.id if self.lessons.current else None,
            "usage": {d.id: u for d in self.registry if (u := d.usage_report()) is not None},
            **({"linked": self.linked.health()} if self.linked is not None and self.linked.role else {}),
            **({"uplink": self.uplink.status()} if self.uplink is not None else {}),
        }

    def uplink_health_payload(self) -> dict[str, Any]:
        """What the district reads every interval, in as few bytes as keep it whole.

        Usage stays cumulative (central takes the deltas, so a late or duplicated report cannot
        add minutes twice) but a device's counters are sent only when they moved since the last
        report: an idle day's reports carry none. Fields at their defaults are left out.
        """
        assert self.uplink is not None
        full = self.health_payload()
        usage = {}
        for device_id, figures in full["usage"].items():
            # active_min even at 0: central takes its first figure as the baseline to count from.
            kept = {k: v for k, v in figures.items()
                    if k == "active_min" or (k == "lesson_active_min" and v)}
            if self._uplink_usage.get(device_id) != kept:
                self._uplink_usage[device_id] = usage[device_id] = kept
        body: dict[str, Any] = {"status": full["status"], "uptime_s": int(full["uptime_s"]),
                                "outbox_depth": self.uplink.outbox.depth}
        if self.uplink.outbox.dropped:
            body["outbox_dropped"] = self.uplink.outbox.dropped
        body["devices"] = full["devices"]
        if full["alerts"]:
            body["alerts"] = full["alerts"]
        if full["lesson"]:
            body["lesson"] = full["lesson"]
        if usage:
            body["usage"] = usage
        body["uplink"] = self.uplink.status(compact=True)
        return body

    async def _health_loop(self) -> None:
        while True:
            if self.bus is not None:
                self.bus.health(self.health_payload())
            await asyncio.sleep(self.config.agent.health_interval_s)

    async def _uplink_health_loop(self, interval_s: float) -> None:
        while True:
            if self.bus is not None and self.uplink is not None:
                self.bus.uplink_health(self.uplink_health_payload())
                with contextlib.suppress(OSError):
                    self.uplink.traffic.save()  # today's bytes survive a restart
            await asyncio.sleep(interval_s)

    # --- devices ----------------------------------------------------------------------
    def _device_entries(self) -> list[DeviceConfig]:
        configured = [d for d in self.config.devices if d.enabled]
        ids = {d.id for d in configured}
        return configured + [d for d in self.demo_devices if d.id not in ids]

    def add_device(self, entry: DeviceConfig) -> Device:
        device = device_class(entry.kind).from_config(entry)
        self.registry.add(device)
        self.supervisor.start(device)
        return device

    async def rescan(self) -> dict[str, Any]:
        self.hotplug.rescan()
        restarted = []
        for device in self.registry:
            if device.reason == LISTED_ONLY:
                continue
            if device.status in (Status.FAULT, Status.LOST, Status.OFFLINE):
                await self.supervisor.stop(device)
                self.supervisor.start(device)
                restarted.append(device.id)
        added = []
        for entry in self._device_entries():
            if entry.id not in self.registry:
                self.add_device(entry)
                added.append(entry.id)
        return {"restarted": restarted, "added": added, "devices": len(self.registry)}

    # --- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        urls = [BrokerUrl.parse(u) for u in self.config.mqtt.urls]
        embedded = next((u for u in urls if u.scheme == "embedded"), None)
        if embedded is not None:
            self.broker = EmbeddedBroker(embedded.host, embedded.port, self._state_dir)
            await self.broker.start()
        self.http = await http_server.start(self, self.config.http.listen)
        self.outbox = Outbox(self._state_dir / "outbox.sqlite3", self.config.outbox.max_messages)
        will = Will(self.topics.agent, dumps(self.agent_state("offline")))
        client_id = self.config.mqtt.client_id or f"classroomd-{self.config.site}-{self.config.room}"
        # A Mosquitto child speaks MQTT 5: reach it as an ordinary broker. Only amqtt needs the
        # `embedded` scheme, which makes the client speak 3.1.1 at once instead of waiting out silence.
        client_urls = [str(u) if u.scheme == "embedded" and self.broker is not None and self.broker.mqtt5
                       else f"{u.scheme}://{u.host}:{u.port}" for u in urls]
        self.client = MqttClient(client_settings(self.config.mqtt, client_id, client_urls), will)
        if self.config.uplink is not None:
            self.uplink = Uplink(self.config.uplink, self._state_dir, f"{client_id}-uplink", will)
        self.bus = ClassroomBus(self.topics, self.client, self.outbox, self, self.session,
                                self._state_dir, self.config.outbox, self.uplink)
        self._start_linked(client_id, client_urls)
        for entry in self._device_entries():
            try:
                self.add_device(entry)
            except Exception as exc:  # a device that cannot even be built must not stop the rest
                log.error("cannot set up: %s", exc, extra={"device": entry.id})
        await self.hotplug.start()
        self._tasks.append(asyncio.create_task(self.client.run(), name="mqtt"))
        self._tasks.append(asyncio.create_task(self._health_loop(), name="health"))
        if self.uplink is not None and self.config.uplink is not None:
            self.bus.feed_uplink()
            self._tasks.append(asyncio.create_task(self.uplink.run(), name="uplink"))
            self._tasks.append(asyncio.create_task(
                self._uplink_health_loop(self.config.uplink.health_interval_s), name="uplink-health"))
        log.info("classroomd %s session %d: %s/%s with %d devices, HTTP %s", __version__, self.session,
                 self.config.site, self.config.room, len(self.registry), self.http_base)

    # --- linked lessons (docs/linked.md) ------------------------------------------------------
    def _start_linked(self, client_id: str, urls: list[str]) -> None:
        """A connection of its own to the shared broker, so the lesson's bytes are counted apart."""
        from classroomd.bus.linked import LinkedBus
        from classroomd.services.linked_lesson import LinkedLesson

        client = MqttClient(client_settings(self.config.mqtt, f"{client_id}-linked", urls))
        me = f"{self.config.site}/{self.config.room}"
        self.linked = LinkedLesson(me, LinkedBus(client, self.config.mqtt.base_topic, me), lambda: self.media,
                                   self._state_dir / "linked.json", self._join_linked, self._leave_linked,
                                   self._show_linked, frame=self._live_frame, show_board=self._show_linked_board,
                                   ink_here=self._ink_linked, accept_offers=self.config.linked.accept_offers)
        self.board.observers.append(self.linked.board_shown)
        self.board.ink_observers.append(self.linked.ink_drawn)
        self._tasks.append(asyncio.create_task(client.run(), name="mqtt-linked"))
        self._linked_client = client

    def linked_lesson(self) -> LinkedLesson:
        if self.linked is None:
            raise RequestError("not_linked", "linked lessons are not running in this agent")
        return self.linked

    def _join_linked(self, invite: dict[str, Any]) -> None:
        current = self.lessons.current
        if current is not None and current.id == invite["lesson"]:
            return
        if current is not None:  # the hub's lesson replaces a local one: captures belong to the shared lesson
            self.lessons.end()
        self.lessons.start(invite["subject"], invite["teacher"], invite["lesson"])
        self.lesson_changed()

    def _leave_linked(self, lesson_id: str) -> None:
        if self.lessons.current is not None and self.lessons.current.id == lesson_id:
            self.lessons.end()
            self.lesson_changed()

    async def _show_linked(self, show: dict[str, Any]) -> None:
        panels = [d for d in self.registry if d.kind == Kind.PANEL]
        if not panels:
            raise RequestError("no_panel", "no panel in this classroom to show the linked lesson on")
        results = await asyncio.gather(*(p.request("show", show) for p in panels), return_exceptions=True)
        failed = [f"{p.id}: {r}" for p, r in zip(panels, results, strict=True) if isinstance(r, BaseException)]
        if len(failed) == len(panels):
            raise RequestError("board_failed", "; ".join(failed))

    async def _show_linked_board(self, content: dict[str, Any]) -> None:
        """The hub's live microscope, served by this agent: straight to the boards (no local device to name)."""
        panels = [d.id for d in self.registry if d.kind == Kind.PANEL]
        await asyncio.gather(*(self.board.show(p, {**content, "panel": p}) for p in panels))

    def _ink_linked(self, message: dict[str, Any]) -> None:
        """The hub's tablet ink, on every panel here (they all show the hub's board)."""
        for panel in (d.id for d in self.registry if d.kind == Kind.PANEL):
            self.board.send(panel, message)

    async def _live_frame(self, device_id: str) -> tuple[bytes, float]:
        frames = getattr(self.registry.get(device_id), "frames", None)
        if frames is None:
            raise RequestError("offline", f"no microscope {device_id} with pictures")
        frame = await frames.newer(self._live_seen.get(device_id, 0), 2.0)
        if frame is None:  # a reopened capture counts from 0 again: take whatever comes next
            self._live_seen.pop(device_id, None)
            raise RequestError("offline", f"microscope {device_id} has no new picture")
        self._live_seen[device_id] = frame.seq
        return frame.jpeg, frame.wall

    async def wait_connected(self, timeout: float) -> bool:
        assert self.client is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.client.connected.wait(), timeout)
            return True
        return False

    def request_stop(self) -> None:
        self._stop.set()

    async def run_until_stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        await self.hotplug.stop()
        await self.supervisor.stop_all(list(self.registry))
        if self.bus is not None:
            await self.bus.announce_offline()
            await self.bus.close()
        if self.client is not None:
            await self.client.stop(graceful=True)
        if self.linked is not None:
            await self.linked.close()
        if self._linked_client is not None:
            await self._linked_client.stop(graceful=True)
        if self.uplink is not None:
            await self.uplink.stop(self.topics.agent, dumps(self.agent_state("offline")))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.stop()
        if self.outbox is not None:
            self.outbox.close()
        if self.broker is not None:
            await self.broker.stop()

