"""Usage from health reports: the agent's counters are cumulative per session, so central
adds their deltas; a counter that went down (or a new session) means the agent restarted
and counted again from zero."""

from __future__ import annotations

import time

from classroomd.bus.payloads import Health
from classroomd.central import topics
from classroomd.central.batch import Batch
from classroomd.central.fleet import Classroom


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value >= 0 else None


def record_usage(room: Classroom, report: Health, now: float, batch: Batch) -> None:
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    lesson = report.lesson
    for device_id, figures in report.usage.items():
        if not topics.DEVICE_ID.match(device_id) or not isinstance(figures, dict):
            continue
        active = _number(figures.get("active_min"))
        if active is None:
            continue
        lesson_active = _number(figures.get("lesson_active_min")) or 0.0
        before = room.usage_counters.get(device_id)
        device = room.devices.get(device_id)
        if device is not None and device.last_used is None:
            # Measured from here on: "unused for N school days" counts from when central first knew.
            device.last_used = now
            batch.devices[(room.site, room.room, device_id)] = device.row(room.site, room.room)
        if before is None:
            # The first report central sees: its counters cover time before central knew
            # the classroom, which cannot be placed on a day; start counting from here.
            room.usage_counters[device_id] = (report.session, active, lesson, lesson_active)
            continue
        session0, active0, lesson0, lesson_active0 = before
        restarted = session0 != report.session or active < active0
        delta = active if restarted else active - active0
        lesson_delta = 0.0
        if lesson:
            same_lesson = not restarted and lesson0 == lesson and lesson_active >= lesson_active0
            lesson_delta = lesson_active - lesson_active0 if same_lesson else lesson_active
        room.usage_counters[device_id] = (report.session, active, lesson, lesson_active)
        if delta > 0 and device is not None:
            device.last_used = now
            batch.devices[(room.site, room.room, device_id)] = device.row(room.site, room.room)
        if delta > 0 or lesson_delta > 0:
            batch.add_usage(room.site, room.room, device_id, day, delta, lesson_delta)
            if lesson and lesson_delta > 0:
                batch.add_lesson_usage(room.site, room.room, device_id, lesson[:64], lesson_delta)
