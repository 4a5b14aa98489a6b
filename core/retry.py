"""The one back-off for everything that reopens: devices the Supervisor restarts, parts of a device
(a panel's touchscreen), the same numbers from `[agent] reopen_min_s` / `reopen_max_s`."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    min_s: float = 2.0
    max_s: float = 30.0

    def delays(self) -> Iterator[float]:
        """Waits before each attempt: doubling from `min_s` up to `max_s`, each within ±10 %, so that
        thirty devices on one hub that vanished together do not all knock at the same instant."""
        delay = self.min_s
        while True:
            yield delay * random.uniform(0.9, 1.1)
            delay = min(delay * 2, self.max_s)
