"""What one commit writes: rows gathered while a batch of messages is handled.

State rows are keyed, so a classroom that reported ten times in a batch is
written once; history rows (events, health, intervals, alerts) are appended
in the order they happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, ...]
Row = dict[str, Any]


@dataclass
class IntervalChange:
    site: str
    room: str
    device: str
    state: str
    at: float


@dataclass
class AlertChange:
    what: str  # "raised" or "cleared"
    key: str
    at: float
    row: Row = field(default_factory=dict)


@dataclass
class Batch:
    classrooms: dict[Key, Row] = field(default_factory=dict)
    devices: dict[Key, Row] = field(default_factory=dict)
    events: list[Row] = field(default_factory=list)
    health: list[Row] = field(default_factory=list)
    intervals: list[IntervalChange] = field(default_factory=list)
    alerts: list[AlertChange] = field(default_factory=list)
    inventory_log: list[Row] = field(default_factory=list)
    #: (site, room, device, day) -> [active_min, lesson_active_min] to add
    usage_daily: dict[Key, list[float]] = field(default_factory=dict)
    #: (site, room, device, lesson) -> active_min to add
    usage_lessons: dict[Key, float] = field(default_factory=dict)
    lessons: list[Row] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.classrooms or self.devices or self.events or self.health or self.intervals
                    or self.alerts or self.inventory_log or self.usage_daily or self.usage_lessons
                    or self.lessons)

    def add_usage(self, site: str, room: str, device: str, day: str, active: float, lesson: float) -> None:
        slot = self.usage_daily.setdefault((site, room, device, day), [0.0, 0.0])
        slot[0] += active
        slot[1] += lesson

    def add_lesson_usage(self, site: str, room: str, device: str, lesson: str, active: float) -> None:
        key = (site, room, device, lesson)
        self.usage_lessons[key] = self.usage_lessons.get(key, 0.0) + active
