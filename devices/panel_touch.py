"""A panel's own touchscreen, watched only to report whether it is there and whether someone touches it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from classroomd.core.retry import RetryPolicy
from classroomd.drivers.evdev_input import BTN_TOUCH, EV_KEY, InputEvent, InputGone, InputSource, open_source


class PanelTouch:
    """The panel's touchscreen, watched only to report it: is it there, and is someone touching it.

    It never grabs the node (touch belongs to the desktop), and a touchscreen that is
    missing does not make the panel faulty: it is reported and reopened every few seconds.
    """

    def __init__(self, path: str, changed: Any, policy: Callable[[], RetryPolicy]) -> None:
        self.path = path
        self._changed = changed
        self.policy = policy
        self.source: InputSource | None = None
        self.contacts = 0
        self.touching = False
        self.touches = 0
        self.last_touch: str | None = None
        self.problem = ""
        self._reopen: asyncio.Task[None] | None = None

    def open(self) -> None:
        try:
            source = open_source(self.path)
        except (InputGone, OSError) as exc:
            self._gone(str(exc))
            return
        self.source, self.problem, self.contacts = source, "", source.caps.max_contacts
        source.start(self._events, self._gone)
        self._changed()

    def _events(self, batch: list[InputEvent]) -> None:
        for event in batch:
            if event.type == EV_KEY and event.code == BTN_TOUCH and bool(event.value) != self.touching:
                self.touching = bool(event.value)
                if self.touching:
                    self.touches += 1
                    self.last_touch = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                self._changed()

    def _gone(self, reason: str) -> None:
        self.source, self.touching, self.problem = None, False, reason
        self._changed()
        if self._reopen is None or self._reopen.done():
            self._reopen = asyncio.create_task(self._reopen_loop(), name=f"touch-{self.path}")

    async def _reopen_loop(self) -> None:
        # Part of a panel that stays ready without it, so not the Supervisor's to reopen; the same back-off.
        delays = self.policy().delays()
        while self.source is None:
            await asyncio.sleep(next(delays))
            self.open()

    def close(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
        if self.source is not None:
            self.source.close()
            self.source = None

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.path, "online": self.source is not None, "contacts": self.contacts,
                               "touching": self.touching, "touches": self.touches, "last_touch": self.last_touch}
        if self.problem:
            out["problem"] = self.problem
        return out

