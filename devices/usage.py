"""How much a device is used: active minutes per lesson, events per minute.

A district wants to know not only that equipment works but that it is used.
Activity is summarised here; raw input never goes to MQTT.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UsageMeter:
    #: Activity closer together than this counts as one continuous period of use.
    idle_gap_s: float = 30.0
    clock: Callable[[], float] = time.time
    active_s_total: float = 0.0
    active_s_by_lesson: dict[str, float] = field(default_factory=dict)
    last_activity: float | None = None
    #: (time, events) of the last minute: one entry per report, however many events it held.
    _window: deque[tuple[float, int]] = field(default_factory=deque)

    def mark(self, lesson_id: str | None, count: int = 1) -> None:
        """Something happened now (a pen report, a touch, a globe press)."""
        now = self.clock()
        if self.last_activity is not None:
            # Time since the previous activity counts as use only within the idle gap;
            # a pen lifted for a minute is not a minute of use.
            gap = now - self.last_activity
            if 0 < gap <= self.idle_gap_s:
                self.active_s_total += gap
                if lesson_id:
                    self.active_s_by_lesson[lesson_id] = self.active_s_by_lesson.get(lesson_id, 0.0) + gap
        self.last_activity = now
        self._window.append((now, count))
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._window and self._window[0][0] < now - 60:
            self._window.popleft()

    @property
    def events_per_minute(self) -> int:
        self._trim(self.clock())
        return sum(count for _, count in self._window)

    def in_use(self) -> bool:
        return self.last_activity is not None and self.clock() - self.last_activity <= self.idle_gap_s

    def as_dict(self, lesson_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "active_min": round(self.active_s_total / 60, 2),
            "events_per_min": self.events_per_minute,
            "last_activity": (
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last_activity))
                if self.last_activity is not None
                else None
            ),
        }
        if lesson_id:
            out["lesson_active_min"] = round(self.active_s_by_lesson.get(lesson_id, 0.0) / 60, 2)
        return out


@dataclass
class ActivityThrottle:
    """At most one `activity` event every `every_s` seconds while a device is in use."""

    every_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _last: float = float("-inf")

    def due(self) -> bool:
        now = self.clock()
        if now - self._last >= self.every_s:
            self._last = now
            return True
        return False
