"""Turn one message of the contract into state changes and rows.

Runs in the single ingest task, so it needs no locks; it never raises on bad input
(a broken agent must not stop the district's view): it counts and logs instead.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from classroomd.bus.payloads import Health
from classroomd.central import inventory, topics
from classroomd.central.alerts import Alert, AlertBook, alert_key
from classroomd.central.batch import Batch
from classroomd.central.fleet import OFFLINE, ONLINE, Classroom, Fleet
from classroomd.central.usage import record_usage

log = logging.getLogger("classroomd.central.ingest")


class Malformed(ValueError):
    pass


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Malformed("not UTF-8 JSON") from None


def _object(payload: bytes) -> dict[str, Any]:
    value = _json(payload)
    if not isinstance(value, dict):
        raise Malformed("not a JSON object")
    return value


def _text(value: Any, limit: int = 200) -> str | None:
    return str(value)[:limit] if value is not None else None


def _when(value: Any, fallback: float) -> float:
    """An ISO-8601 time as UNIX seconds; the time of receipt when the agent's is missing or broken."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return fallback
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


class Handlers:
    def __init__(self, fleet: Fleet, alerts: AlertBook, base_topic: str, health_sample_s: float = 300) -> None:
        self.fleet = fleet
        self.health_sample_s = health_sample_s
        self.alerts = alerts
        self.base_topic = base_topic
        self.counts: Counter[str] = Counter()
        #: bumped when central's own broker link drops; a health gap counts only within one epoch
        self.epoch = 0

    def handle(self, topic: str, payload: bytes, now: float, batch: Batch) -> None:
        self.counts["messages"] += 1
        stream = topics.parse(topic, self.base_topic)
        if stream is None:
            self.counts["unknown_topic"] += 1
            log.info("ignoring a topic outside the contract: %r", topic[:300])
            return
        if b"\\u0000" in payload or b"\x00" in payload:
            # PostgreSQL text cannot hold NUL; one such message must not sink its whole batch.
            self.counts["malformed"] += 1
            log.warning("malformed %s on %r: contains NUL", stream.kind, topic[:300])
            return
        try:
            getattr(self, f"_{stream.kind}")(stream, payload, now, batch)
        except Malformed as exc:
            self.counts["malformed"] += 1
            log.warning("malformed %s on %r: %s", stream.kind, topic[:300], exc)
        except ValidationError as exc:
            self.counts["malformed"] += 1
            log.warning("malformed %s on %r: %s", stream.kind, topic[:300],
                        "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]))
        except Exception:
            # A payload shape nobody thought of is a bug here, not a reason to stop the district's view.
            self.counts["handler_errors"] += 1
            log.exception("could not handle %s on %r", stream.kind, topic[:300])

    def _room(self, stream: topics.Stream, now: float, batch: Batch) -> Classroom:
        return self.fleet.classroom(stream.site, stream.room, now, batch)

    # --- the retained lane -------------------------------------------------------------
    def _agent(self, stream: topics.Stream, payload: bytes, now: float, batch: Batch) -> None:
        if not payload:
            return  # a cleared birth: the classroom was decommissioned; keep its last known state
        body = _object(payload)
        state, session = body.get("state"), body.get("session")
        if state not in ("init", "online", "offline") or not isinstance(session, int):
            raise Malformed("expected state init/online/offline and an integer session")
        room = self._room(stream, now, batch)
        # The session pairs a will with its birth (Sparkplug's bdSeq): the will of an older
        # session arriving after the new session's birth is history, not news.
        # A birth with a lower session is accepted: the agent's state directory was reset.
        if state == "offline" and room.session is not None and session < room.session:
            self.counts["stale_session"] += 1
            return
        fresh = session != room.session or state != (room.agent or {}).get("state")
        room.session, room.agent = session, body
        if fresh and state != "offline":
            room.last_seen = now  # a will is the broker speaking for a classroom that is gone
        self.fleet.set_presence(room, OFFLINE if state == "offline" else ONLINE, now, batch)
        batch.classrooms[room.key] = room.row()

    def _health(self, stream: topics.Stream, payload: bytes, now: float, batch: Batch) -> None:
        if not payload:
            return
        body = _object(payload)
        report = Health.model_validate(body)
        room = self._room(stream, now, batch)
        position = (report.session, report.seq)
        self._sample(room, report, now, batch)
        if room.health_seq is not None and position <= room.health_seq:
            return  # a redelivery or an older report: history only
        previous, previous_epoch = room.health_seq, room.health_epoch
        room.health_seq, room.health_epoch = position, self.epoch
        if previous is not None and previous[0] == report.session and report.seq > previous[1] + 1 \
                and previous_epoch == self.epoch:
            # Central saw both reports on one unbroken link, so the agent lost some in between.
            room.last_gap = now
            self.counts["health_gaps"] += 1
        room.outbox_depths.append(report.outbox_depth)
        record_usage(room, report, now, batch)
        batch.classrooms[room.key] = room.row()  # the usage counters' baseline, also for late reports
        if report.replayed:
            return  # late: fills history and usage, never the live view
        room.health, room.last_seen = body, now
        for device_id, status in report.devices.items():
            device = room.devices.get(device_id)
            if device is not None:
                # Listed by a live report: present now, whatever its status.
                device.status, device.last_seen = _text(status, 32), now
                Fleet.update_bad(device, now)
                batch.devices[(room.site, room.room, device_id)] = device.row(room.site, room.room)
        batch.classrooms[room.key] = room.row()

    def _sample(self, room: Classroom, report: Health, now: float, batch: Batch) -> None:
        devices = json.dumps(report.devices, sort_keys=True, ensure_ascii=False)
        key = (report.status, report.outbox_depth, devices)
        changed = key != room.sample_key
        if not changed and (report.replayed or now - room.sample_at < self.health_sample_s):
            return
        same_devices = room.sample_key is not None and room.sample_key[2] == devices
        room.sample_key, room.sample_at = key, now
        batch.health.append({"site": room.site, "room": room.room, "session": report.session, "seq": report.seq,
                             "ts": _text(report.ts, 40), "received": now, "status": report.status,
                             "uptime_s": report.uptime_s, "outbox_depth": report.outbox_depth,
                             "outbox_dropped": report.outbox_dropped, "replayed": bool(report.replayed),
                             "devices": None if same_devices else devices})

    def _inventory(self, stream: topics.Stream, payload: bytes, now: float, batch: Batch) -> None:
        items = _json(payload) if payload else []
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), str)
                                                  for i in items):
            raise Malformed("expected an array of objects with an id")
        room = self._room(stream, now, batch)
        listed = set()
        for item in items:
            if not topics.DEVICE_ID.match(item["id"]):
                self.counts["malformed"] += 1
                continue
            listed.add(item["id"])
            device = inventory.present(self.fleet, room, item["id"], now, batch)
            inventory.describe(self.fleet, room, device, item, now, batch)
            if item.get("availability") in (ONLINE, OFFLINE):
                self.fleet.set_availability(room, device, item["availability"], now, batch)
            batch.devices[(room.site, room.room, device.id)] = device.row(room.site, room.room)
        for device in list(room.devices.values()):
            if device.id not in listed:
                inventory.gone(room, device, now, batch)

    def _device(self, stream: topics.Stream, payload: bytes, now: float, batch: Batch) -> None:
        room = self._room(stream, now, batch)
        if not payload:
            known = room.devices.get(stream.key)
            if known is not None:
                inventory.gone(room, known, now, batch)
            return
        body = _object(payload)
        device = inventory.present(self.fleet, room, stream.key, now, batch)
        inventory.describe(self.fleet, room, device, body, now, batch)
        device.state = body
        if body.get("availability") in (ONLINE, OFFLINE):
            self.fleet.set_availability(room, device, body["availability"], now, batch)
        batch.devices[(room.site, room.room, device.id)] = device.row(room.site, room.room)

    def _availability(self, stream: topics.Stream, payload: bytes, now: float, batch: Batch) -> None:
        if not payload:
            return  # cleared with the device's state; `_device` marks it gone
        value = payload.decode("utf-8", "replace").strip()
        if value not in (ONLINE, OFFLINE):
            raise Malformed("expected online or offline")
        room = self._room(stream, now, batch)
        device = inventory.present(self.fleet, room, stream.key, now, batch)
        self.fleet.set_availability(room, device, value, now, batch)
        batch.devices[(room.site, room.room, device.id)] = device.row(room.site, room.room)

    def _lesson(self, stream: topics.Stream, payload: bytes, now: float, batch: Batch) -> None:
        body = _object(payload) if payload else {}
        room = self._room(stream, now, batch)
        room.lesson = body or None
        batch.classrooms[room.key] = room.row()
        if body.get("id"):
            # Every lesson once (the retained topic comes again after each reconnect): lessons per week.
            batch.lessons.append({"site": room.site, "room": room.room, "lesson": str(body["id"])[:64],
                                  "started": _when(body.get("started"), now),
                                  "subject": _text(body.get("subject"))})

    def _alert(self, stream: topics.Stream, payload: bytes, now: float, batch: Batch) -> None:
        room = self._room(stream, now, batch)
        key = alert_key("agent", room.site, room.room, "", stream.key)
        if not payload:
            self.alerts.clear(key, now, batch, "cleared by the agent")
            return
        body = _object(payload)
        severity = str(body["severity"]) if body.get("severity") in ("info", "warning", "critical") else "warning"
        given = body.get("message")
        message: dict[str, Any] = given if isinstance(given, dict) else {"en": str(given)}
        # A raise delivered late from the agent's outbox is recorded, but is not news: no notification.
        self.alerts.raise_alert(Alert(key, "agent", room.site, room.room, _text(body.get("device"), 64) or "",
                                      _text(body.get("code"), 64) or stream.key[:64], severity, message, now),
                                batch, notify=body.get("replayed") is not True)

    # --- the event lane ------------------------------------------------------------------
    def _event(self, stream: topics.Stream, payload: bytes, now: float, batch: Batch) -> None:
        body = _object(payload)
        msg_id = body.get("msg_id")
        if not isinstance(msg_id, str) or not msg_id:
            session, seq = body.get("session"), body.get("seq")
            if not isinstance(session, int) or not isinstance(seq, int):
                raise Malformed("an event needs msg_id, or session and seq")
            msg_id = f"{session}:{seq}:{stream.key}/event/{stream.name}"
        replayed = body.get("replayed") is True
        batch.events.append({"site": stream.site, "room": stream.room, "device": stream.key[:64],
                             "name": stream.name[:64], "msg_id": msg_id[:300],
                             "session": body.get("session") if isinstance(body.get("session"), int) else None,
                             "seq": body.get("seq") if isinstance(body.get("seq"), int) else None,
                             "ts": _text(body.get("ts"), 40), "received": now, "replayed": replayed,
                             # already checked to be UTF-8 JSON: stored as sent, not re-encoded
                             "payload": payload.decode("utf-8")})
        self.counts["events"] += 1
        if replayed:
            return  # history only: a late event says nothing about now
        room = self.fleet.classrooms.get((stream.site, stream.room))
        if room is not None and room.presence == ONLINE:
            room.last_seen = now
            batch.classrooms[room.key] = room.row()

