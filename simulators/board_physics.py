"""The physical side of the simulated printer board: a paced serial wire and heaters that
take time to warm up and cool down. No protocol here: `simulators/marlin_firmware.py` is the firmware."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Heater:
    name: str
    ambient: float
    heat_rate: float
    cool_rate: float
    temp: float = 0.0
    target: float = 0.0
    stamp: float = 0.0
    #: Set by thermal-runaway injection: the heater stops heating while the target stays.
    broken: bool = False

    def actual(self, now: float) -> float:
        dt = max(0.0, now - self.stamp) if self.stamp else 0.0
        self.stamp = now
        goal = self.target if self.target > 0 and not self.broken else self.ambient
        if goal > self.temp:
            self.temp = min(goal, self.temp + self.heat_rate * dt)
        else:
            self.temp = max(goal, self.temp - self.cool_rate * dt)
        return self.temp


class Wire:
    """One direction of a serial line: bytes arrive in order, no faster than baud/10 per second."""

    def __init__(self, baud: int, deliver: Callable[[bytes], None]) -> None:
        self.baud = baud
        self.deliver = deliver
        self._items: deque[tuple[float, bytes]] = deque()
        self._busy_until = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def send(self, data: bytes) -> None:
        if not self.baud:
            self.deliver(data)
            return
        loop = asyncio.get_running_loop()
        start = max(loop.time(), self._busy_until)
        self._busy_until = start + len(data) * 10 / self.baud
        self._items.append((self._busy_until, data))
        self._arm()

    def _arm(self) -> None:
        if self._timer is None and self._items:
            self._timer = asyncio.get_running_loop().call_at(self._items[0][0], self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = asyncio.get_running_loop().time()
        while self._items and self._items[0][0] <= now + 1e-4:
            self.deliver(self._items.popleft()[1])
        self._arm()

    def clear(self) -> None:
        self._items.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
