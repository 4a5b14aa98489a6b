"""Turning evdev event batches into pen samples and touch contacts.

Pure state machines: no I/O, fed by any `InputSource`, so they are tested
with spec-exact event sequences (the kernel's multi-touch protocol B,
Documentation/input/multi-touch-protocol.rst; the tablet tool protocol).
`PacedChanges` limits how often what they track becomes retained state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from classroomd.drivers.evdev_input import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    ABS_MT_SLOT,
    ABS_MT_TRACKING_ID,
    ABS_PRESSURE,
    ABS_TILT_X,
    ABS_TILT_Y,
    ABS_X,
    ABS_Y,
    BTN_STYLUS,
    BTN_STYLUS2,
    BTN_TOOL_PEN,
    BTN_TOOL_RUBBER,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    SYN_DROPPED,
    SYN_REPORT,
    AbsRange,
    InputCaps,
    InputEvent,
)


@dataclass(frozen=True)
class PenSample:
    """One complete report of the pen, coordinates normalised to 0..1."""

    time: float
    x: float
    y: float
    pressure: float
    tilt_x: int
    tilt_y: int
    in_proximity: bool
    touching: bool
    tool: str  # "pen" or "eraser"
    buttons: frozenset[str]


class PenTracker:
    """Pen state from a tablet's pen node; one `PenSample` per SYN_REPORT."""

    def __init__(self, caps: InputCaps) -> None:
        self.caps = caps
        self._raw: dict[int, int] = {}
        self._keys: set[int] = set()
        self._dropping = False
        self.dropped_reports = 0

    def _norm(self, code: int) -> float:
        rng = self.caps.abs.get(code)
        value = self._raw.get(code, rng.min if rng else 0)
        return rng.normalise(value) if rng else 0.0

    def feed(self, batch: list[InputEvent]) -> list[PenSample]:
        samples: list[PenSample] = []
        for ev in batch:
            if ev.type == EV_SYN and ev.code == SYN_DROPPED:
                # The kernel's buffer overflowed: what follows until the next
                # SYN_REPORT is a partial frame and must not become a sample.
                self._dropping = True
                self.dropped_reports += 1
                continue
            if ev.type == EV_SYN and ev.code == SYN_REPORT:
                if self._dropping:
                    self._dropping = False
                    continue
                samples.append(self._sample(ev.time))
            elif self._dropping:
                continue
            elif ev.type == EV_ABS:
                self._raw[ev.code] = ev.value
            elif ev.type == EV_KEY:
                if ev.value:
                    self._keys.add(ev.code)
                else:
                    self._keys.discard(ev.code)
        return samples

    def resync(self, held_keys: set[int]) -> None:
        """After SYN_DROPPED, take the key state the kernel reports now."""
        self._keys = set(held_keys)

    def _sample(self, time: float) -> PenSample:
        in_prox = bool(self._keys & {BTN_TOOL_PEN, BTN_TOOL_RUBBER})
        buttons = frozenset(n for code, n in ((BTN_STYLUS, "stylus"), (BTN_STYLUS2, "stylus2")) if code in self._keys)
        return PenSample(
            time=time,
            x=self._norm(ABS_X),
            y=self._norm(ABS_Y),
            pressure=self._norm(ABS_PRESSURE),
            tilt_x=self._raw.get(ABS_TILT_X, 0),
            tilt_y=self._raw.get(ABS_TILT_Y, 0),
            in_proximity=in_prox,
            touching=in_prox and BTN_TOUCH in self._keys,
            tool="eraser" if BTN_TOOL_RUBBER in self._keys else "pen",
            buttons=buttons,
        )


@dataclass
class Contact:
    tracking_id: int
    x: float = 0.0
    y: float = 0.0


@dataclass
class TouchFrame:
    time: float
    contacts: dict[int, Contact]
    began: int  # contacts that started in this frame


@dataclass
class MultiTouchTracker:
    """Contacts of a type-B multi-touch device (panels' touch, touch tables)."""

    caps: InputCaps
    slots: dict[int, Contact] = field(default_factory=dict)
    peak: int = 0
    touches: int = 0
    resyncs: int = 0
    _slot: int = 0
    _pending: dict[int, Contact] = field(default_factory=dict)
    _began: int = 0
    _dropping: bool = False

    def _range(self, code: int) -> AbsRange:
        return self.caps.abs.get(code) or AbsRange(0, 1)

    def feed(self, batch: list[InputEvent]) -> list[TouchFrame]:
        frames: list[TouchFrame] = []
        for ev in batch:
            if ev.type == EV_SYN and ev.code == SYN_DROPPED:
                self._dropping = True
                continue
            if ev.type == EV_SYN and ev.code == SYN_REPORT:
                if self._dropping:
                    # python-evdev cannot read the slots back (no EVIOCGMTSLOTS), so
                    # forget them: a held finger reappears as soon as it moves.
                    self._dropping = False
                    self.slots.clear()
                    self._pending.clear()
                    self._began = 0
                    self.resyncs += 1
                    continue
                frames.append(self._commit(ev.time))
                continue
            if self._dropping or ev.type != EV_ABS:
                continue
            if ev.code == ABS_MT_SLOT:
                self._slot = ev.value
            elif ev.code == ABS_MT_TRACKING_ID:
                if ev.value < 0:
                    self._pending.pop(self._slot, None)
                    self.slots.pop(self._slot, None)
                else:
                    self._pending[self._slot] = Contact(ev.value)
                    self._began += 1
            elif ev.code in (ABS_MT_POSITION_X, ABS_MT_POSITION_Y):
                contact = self._pending.get(self._slot) or self.slots.get(self._slot)
                if contact is not None:
                    rng = self._range(ev.code)
                    if ev.code == ABS_MT_POSITION_X:
                        contact.x = rng.normalise(ev.value)
                    else:
                        contact.y = rng.normalise(ev.value)
        return frames

    def _commit(self, time: float) -> TouchFrame:
        self.slots.update(self._pending)
        self._pending.clear()
        began, self._began = self._began, 0
        self.touches += began
        self.peak = max(self.peak, len(self.slots))
        return TouchFrame(time, dict(self.slots), began)

    @property
    def contacts(self) -> int:
        return len(self.slots)

    def release_all(self) -> None:
        """The device went away with fingers down: they are not on it any more."""
        self.slots.clear()
        self._pending.clear()
        self._began = 0
        self._dropping = False



class PacedChanges:
    """An input device's retained state goes out at most once per `every_s`.

    A pen touching down and lifting five times a second, or fingers coming and going on a table,
    is live telemetry, not state a late subscriber needs: what the broker retains is the picture
    at most a second old. A change inside the window is not lost, it goes out when the window
    ends. An urgent change (a status change: plugged, unplugged) goes out at once.
    """

    def __init__(self, send: Callable[[], None], every_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.send = send
        self.every_s = every_s
        self.clock = clock
        self._last = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def change(self, urgent: bool = False) -> None:
        now = self.clock()
        wait = self._last + self.every_s - now
        if urgent or wait <= 0:
            self._fire()
            return
        if self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(wait, self._fire)
            except RuntimeError:  # no loop (a synchronous caller): nothing to pace against
                self._fire()

    def _fire(self) -> None:
        self.close()
        self._last = self.clock()
        self.send()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
