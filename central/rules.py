"""Central's own alert rules, evaluated on a timer over what the fleet knows.

Each rule says True (the condition holds, past its pending period), False (it is over)
or None (central cannot tell, e.g. while it is stale): None neither raises nor clears.
"""

from __future__ import annotations

import itertools
import time

from classroomd.central.alerts import Alert, AlertBook, alert_key
from classroomd.central.batch import Batch
from classroomd.central.config import CentralConfig
from classroomd.central.fleet import OFFLINE, ONLINE, Classroom, Device, Fleet

DAY = 86400.0

MESSAGES = {
    "classroom_offline": {
        "kk": "Сынып байланыста емес", "ru": "Класс не на связи", "en": "Classroom offline"},
    "device_offline": {
        "kk": "Құрылғы істен шықты немесе желіде жоқ", "ru": "Устройство не в сети или неисправно",
        "en": "Device offline or faulty"},
    "health_gap": {
        "kk": "Күй хабарламалары жоғалды", "ru": "Пропущены сообщения о состоянии",
        "en": "Health reports were lost"},
    "unused": {
        "kk": "Құрылғы сабақтарда қолданылмайды", "ru": "Оборудование не используется на уроках",
        "en": "Equipment not used"},
    "outbox_growing": {
        "kk": "Жіберілмеген хабарламалар кезегі өсуде", "ru": "Очередь неотправленных сообщений растёт",
        "en": "Outbox backlog growing"},
}


def _alert(room: Classroom, device: str, code: str, severity: str, now: float) -> Alert:
    return Alert(alert_key("central", room.site, room.room, device, code), "central", room.site, room.room,
                 device, code, severity, MESSAGES[code], now)


def _offline(room: Classroom, now: float, cfg: CentralConfig) -> bool | None:
    if room.presence == OFFLINE:
        return now - room.since >= cfg.offline_alert_s or None
    return False if room.presence == ONLINE else None


def _outbox_growing(room: Classroom, cfg: CentralConfig) -> bool | None:
    depths = list(room.outbox_depths)[-cfg.outbox_growth_reports:]
    if len(depths) < cfg.outbox_growth_reports:
        return None
    # A backlog that never shrinks across the reports and grew overall: the link cannot keep up.
    growing = all(b >= a for a, b in itertools.pairwise(depths)) and depths[-1] > depths[0]
    if growing and depths[-1] >= cfg.outbox_alert_depth:
        return True
    return False if depths[-1] < depths[-2] or depths[-1] < cfg.outbox_alert_depth else None


def school_days(start: float, end: float) -> float:
    """Days between two times that fall on Monday to Friday (UTC); holidays are not known here."""
    if end <= start:
        return 0.0
    weeks = int((end - start) // (7 * DAY))
    total = weeks * 5 * DAY
    cursor = start + weeks * 7 * DAY
    while cursor < end:  # under a week left: at most eight pieces
        day_end = min(end, cursor - cursor % DAY + DAY)
        if time.gmtime(cursor).tm_wday < 5:
            total += day_end - cursor
        cursor = day_end
    return total / DAY


def _unused(device: Device, now: float, cfg: CentralConfig) -> bool:
    if device.gone or device.last_used is None:
        return False
    return school_days(device.last_used, now) >= cfg.unused_school_days


def evaluate(fleet: Fleet, book: AlertBook, cfg: CentralConfig, now: float, batch: Batch) -> None:
    clear_after = cfg.clear_after_s
    for room in fleet.classrooms.values():
        book.condition(_alert(room, "", "classroom_offline", "critical", now), _offline(room, now, cfg), now,
                       clear_after, batch)
        gap = room.last_gap is not None and now - room.last_gap < cfg.gap_hold_s
        book.condition(_alert(room, "", "health_gap", "warning", now), gap, now, clear_after, batch)
        book.condition(_alert(room, "", "outbox_growing", "warning", now), _outbox_growing(room, cfg), now,
                       clear_after, batch)
        for device in room.devices.values():
            holds: bool | None
            if room.presence != ONLINE:
                holds = None  # the classroom's own alert covers it; its devices' state is old news
            elif device.gone:
                holds = False
            elif device.bad_since is not None:
                holds = now - device.bad_since >= cfg.device_alert_s or None
            else:
                holds = False
            book.condition(_alert(room, device.id, "device_offline", "warning", now), holds, now, clear_after,
                           batch)
            # Use while the school is dark is not known yet (it may come late from the outbox).
            unused = _unused(device, now, cfg) if room.presence == ONLINE else None
            book.condition(_alert(room, device.id, "unused", "info", now), unused, now, clear_after, batch)
