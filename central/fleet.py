"""What central knows of each classroom right now, kept in memory by the one task that ingests.

The database has the same facts (and their history); this copy lets a message be
handled without a read, and is rebuilt from the database at start.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import schema as t
from classroomd.central.batch import Batch, IntervalChange

#: key of the newest handled health (session, seq) among the saved usage counters (no device id has '@')
HEALTH_POSITION = "@health"
ONLINE, OFFLINE, STALE, UNKNOWN = "online", "offline", "stale", "unknown"


@dataclass
class Device:
    id: str
    first_seen: float
    last_seen: float
    kind: str | None = None
    name: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    status: str | None = None
    availability: str = UNKNOWN
    since: float = 0.0
    state: dict[str, Any] | None = None
    gone: bool = False
    #: when the device last became offline or faulty (None while it is fine); for the rules
    bad_since: float | None = None
    #: when health usage counters last went up (None for devices that do not measure use)
    last_used: float | None = None

    def row(self, site: str, room: str) -> dict[str, Any]:
        return {"site": site, "room": room, "id": self.id, "kind": self.kind, "name": self.name,
                "vendor": self.vendor, "model": self.model, "serial": self.serial, "status": self.status,
                "availability": self.availability, "since": self.since,
                "state": json.dumps(self.state, ensure_ascii=False) if self.state is not None else None,
                "first_seen": self.first_seen, "last_seen": self.last_seen, "gone": self.gone,
                "last_used": self.last_used}

    def is_bad(self) -> bool:
        return not self.gone and (self.availability == OFFLINE or self.status == "fault")


@dataclass
class Classroom:
    site: str
    room: str
    first_seen: float
    presence: str = UNKNOWN
    since: float = 0.0
    last_seen: float | None = None
    session: int | None = None
    agent: dict[str, Any] | None = None
    health: dict[str, Any] | None = None
    lesson: dict[str, Any] | None = None
    devices: dict[str, Device] = field(default_factory=dict)
    #: (session, seq) of the newest health handled, and the link epoch it arrived in
    health_seq: tuple[int, int] | None = None
    health_epoch: int = -1
    last_gap: float | None = None
    outbox_depths: deque[int] = field(default_factory=lambda: deque(maxlen=8))
    #: what the last stored health sample said, and when it was stored
    sample_key: tuple[str, int, str] | None = None
    sample_at: float = 0.0
    #: usage counters of the newest health: device -> (session, active_min, lesson, lesson_active_min)
    usage_counters: dict[str, tuple[int, float, str | None, float]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.site, self.room)

    def row(self) -> dict[str, Any]:
        def dump(value: dict[str, Any] | None) -> str | None:
            return json.dumps(value, ensure_ascii=False) if value is not None else None

        return {"site": self.site, "room": self.room, "presence": self.presence, "since": self.since,
                "last_seen": self.last_seen, "session": self.session, "agent": dump(self.agent),
                "health": dump(self.health), "lesson": dump(self.lesson), "first_seen": self.first_seen,
                "usage_counters": json.dumps(self._counters(), ensure_ascii=False)}

    def _counters(self) -> dict[str, Any]:
        # The newest health position is saved with the counters it moved: a report central had
        # committed but not acknowledged comes again after a restart, and a replayed one (which
        # leaves `health` alone) must still be known as counted.
        saved: dict[str, Any] = dict(self.usage_counters)
        if self.health_seq is not None:
            saved[HEALTH_POSITION] = list(self.health_seq)
        return saved


class Fleet:
    def __init__(self) -> None:
        self.classrooms: dict[tuple[str, str], Classroom] = {}

    def classroom(self, site: str, room: str, now: float, batch: Batch) -> Classroom:
        found = self.classrooms.get((site, room))
        if found is None:
            found = Classroom(site, room, first_seen=now, since=now)
            self.classrooms[(site, room)] = found
            batch.classrooms[found.key] = found.row()
        return found

    def device(self, room: Classroom, device_id: str, now: float) -> Device:
        found = room.devices.get(device_id)
        if found is None:
            found = Device(device_id, first_seen=now, last_seen=now, since=now)
            room.devices[device_id] = found
        return found

    # --- transitions: every one is an interval ----------------------------------------
    def set_presence(self, room: Classroom, state: str, now: float, batch: Batch) -> bool:
        if room.presence == state:
            return False
        room.presence, room.since = state, now
        batch.intervals.append(IntervalChange(room.site, room.room, "", state, now))
        batch.classrooms[room.key] = room.row()
        return True

    def set_availability(self, room: Classroom, device: Device, state: str, now: float, batch: Batch) -> bool:
        if device.availability == state:
            return False
        device.availability, device.since = state, now
        self.update_bad(device, now)
        batch.intervals.append(IntervalChange(room.site, room.room, device.id, state, now))
        batch.devices[(room.site, room.room, device.id)] = device.row(room.site, room.room)
        return True

    @staticmethod
    def update_bad(device: Device, now: float) -> None:
        if device.is_bad():
            if device.bad_since is None:
                device.bad_since = now
        else:
            device.bad_since = None

    def mark_stale(self, now: float, batch: Batch) -> None:
        """Central lost its broker: what it knew is now of unknown age, not offline."""
        for room in self.classrooms.values():
            if room.presence in (ONLINE, OFFLINE):
                self.set_presence(room, STALE, now, batch)
            for device in room.devices.values():
                if device.availability in (ONLINE, OFFLINE) and not device.gone:
                    self.set_availability(room, device, STALE, now, batch)

    # --- start-up --------------------------------------------------------------------
    async def load(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            for r in (await conn.execute(select(t.classrooms))).mappings():
                room = Classroom(r["site"], r["room"], first_seen=r["first_seen"], presence=r["presence"],
                                 since=r["since"], last_seen=r["last_seen"], session=r["session"],
                                 agent=_load_json(r["agent"]), health=_load_json(r["health"]),
                                 lesson=_load_json(r["lesson"]))
                if room.health is not None:
                    try:
                        room.health_seq = (int(room.health["session"]), int(room.health["seq"]))
                    except (KeyError, TypeError, ValueError):
                        room.health_seq = None
                _restore_usage(room, r["usage_counters"])
                self.classrooms[room.key] = room
            for r in (await conn.execute(select(t.devices))).mappings():
                owner = self.classrooms.get((r["site"], r["room"]))
                if owner is None:
                    continue
                device = Device(r["id"], first_seen=r["first_seen"], last_seen=r["last_seen"], kind=r["kind"],
                                name=r["name"], vendor=r["vendor"], model=r["model"], serial=r["serial"],
                                status=r["status"], availability=r["availability"] or UNKNOWN,
                                since=r["since"] or r["first_seen"], state=_load_json(r["state"]),
                                gone=bool(r["gone"]), last_used=r["last_used"])
                Fleet.update_bad(device, device.since)
                owner.devices[device.id] = device


def _restore_usage(room: Classroom, saved: str | None) -> None:
    # The counters the next report's deltas are taken from. The district's compact health sends
    # a device's counters only when they moved, so the newest report may not hold them all.
    try:
        entries = json.loads(saved) if saved else {}
        position = entries.pop(HEALTH_POSITION, None)
        if position is not None:
            handled = (int(position[0]), int(position[1]))
            room.health_seq = max(room.health_seq, handled) if room.health_seq is not None else handled
        for device_id, (session, active, lesson, lesson_active) in entries.items():
            room.usage_counters[str(device_id)] = (int(session), float(active), lesson, float(lesson_active))
    except (ValueError, TypeError, IndexError):
        room.usage_counters.clear()


def _load_json(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
