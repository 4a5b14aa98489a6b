"""Input events from a Linux evdev node, or from a recording of one.

Both sources hand the same `InputEvent` batches to the same trackers, so the
demo and the tests exercise the code path real tablets and tables use.

The evdev source owns the node's fd through `loop.add_reader` rather than
python-evdev's `async_read_loop`, which `close()` cannot stop (python-evdev
#248), and it never `grab()`s: grabbing takes touch away from the desktop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

log = logging.getLogger("classroomd.drivers.evdev")

# Linux input-event-codes.h; spelled out so a recording can be read without evdev.
EV_SYN, EV_KEY, EV_ABS, EV_MSC = 0x00, 0x01, 0x03, 0x04
SYN_REPORT, SYN_DROPPED = 0, 3
BTN_0 = 0x100
BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_TOUCH, BTN_STYLUS, BTN_STYLUS2 = 0x140, 0x141, 0x14A, 0x14B, 0x14C
BTN_TOOL_FINGER = 0x145
ABS_X, ABS_Y, ABS_PRESSURE, ABS_TILT_X, ABS_TILT_Y = 0x00, 0x01, 0x18, 0x1A, 0x1B
ABS_MT_SLOT, ABS_MT_POSITION_X, ABS_MT_POSITION_Y, ABS_MT_TRACKING_ID = 0x2F, 0x35, 0x36, 0x39
INPUT_PROP_DIRECT = 0x01


class InputEvent(NamedTuple):
    time: float
    type: int
    code: int
    value: int


@dataclass(frozen=True)
class AbsRange:
    min: int
    max: int
    resolution: int = 0  # units per mm (per radian for tilt), 0 when the device does not say

    @property
    def span(self) -> int:
        return max(1, self.max - self.min)

    def normalise(self, value: int) -> float:
        return min(1.0, max(0.0, (value - self.min) / self.span))


@dataclass
class InputCaps:
    """What an input node can report: enough to classify it and scale its values."""

    name: str = ""
    keys: set[int] = field(default_factory=set)
    abs: dict[int, AbsRange] = field(default_factory=dict)
    props: set[int] = field(default_factory=set)

    @property
    def max_contacts(self) -> int:
        slot = self.abs.get(ABS_MT_SLOT)
        return slot.max + 1 if slot is not None else (1 if ABS_X in self.abs else 0)

    @property
    def pressure_levels(self) -> int:
        pressure = self.abs.get(ABS_PRESSURE)
        return pressure.span + 1 if pressure is not None else 0

    @property
    def has_tilt(self) -> bool:
        return ABS_TILT_X in self.abs and ABS_TILT_Y in self.abs

    def aspect(self, x: int = ABS_X, y: int = ABS_Y) -> float:
        """Width over height of the active area, in millimetres when the resolution is known."""
        ax, ay = self.abs.get(x), self.abs.get(y)
        if ax is None or ay is None:
            return 16 / 9
        width = ax.span / ax.resolution if ax.resolution else ax.span
        height = ay.span / ay.resolution if ay.resolution else ay.span
        return width / height if height else 16 / 9

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "keys": sorted(self.keys),
            "abs": {str(code): [r.min, r.max, r.resolution] for code, r in sorted(self.abs.items())},
            "props": sorted(self.props),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputCaps:
        return cls(
            name=str(data.get("name", "")),
            keys={int(k) for k in data.get("keys", [])},
            abs={int(code): AbsRange(*map(int, rng)) for code, rng in data.get("abs", {}).items()},
            props={int(p) for p in data.get("props", [])},
        )


class InputGone(Exception):
    """The node disappeared (unplugged) or cannot be opened."""


Batch = Callable[[list[InputEvent]], None]
Gone = Callable[[str], None]


class InputSource(Protocol):
    caps: InputCaps

    def start(self, on_events: Batch, on_gone: Gone) -> None: ...

    def close(self) -> None: ...


def _deliver(on_events: Batch, batch: list[InputEvent], on_gone: Gone) -> bool:
    """Hand a batch on; False when handling it failed, after telling `on_gone` why.

    Events arrive from hardware: a batch a tracker cannot take would otherwise end the reader (a task)
    or repeat its traceback at every read (a loop callback), while the device still looked ready.
    Ending the source with a reason lets the device report it lost and be reopened.
    """
    try:
        on_events(batch)
    except Exception as exc:
        log.exception("input events could not be handled")
        on_gone(f"input events could not be handled: {type(exc).__name__}: {exc}")
        return False
    return True


class EvdevSource:
    """A real `/dev/input/event*` node through python-evdev."""

    def __init__(self, path: str) -> None:
        import evdev

        try:
            self._dev = evdev.InputDevice(path)
        except PermissionError as exc:
            raise InputGone(
                f"no permission to read {path}: add the daemon's user to group 'input' "
                "or install classroomd's udev rules"
            ) from exc
        except OSError as exc:
            raise InputGone(f"cannot open {path}: {exc.strerror}") from exc
        self.path = path
        self.caps = self._read_caps()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _read_caps(self) -> InputCaps:
        raw: dict[int, list[Any]] = self._dev.capabilities(absinfo=True)
        ranges: dict[int, AbsRange] = {}
        for code, info in raw.get(EV_ABS, []):
            ranges[int(code)] = AbsRange(info.min, info.max, info.resolution)
        keys = {int(k) for k in raw.get(EV_KEY, [])}
        props = {int(p) for p in self._dev.input_props()}
        return InputCaps(name=self._dev.name, keys=keys, abs=ranges, props=props)

    def start(self, on_events: Batch, on_gone: Gone) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        empty_reads = [0]

        def readable() -> None:
            try:
                batch = [InputEvent(e.timestamp(), e.type, e.code, e.value) for e in self._dev.read()]
            except BlockingIOError:
                return
            except OSError as exc:
                # ENODEV is the normal way an unplugged node says goodbye.
                self.close()
                on_gone("unplugged" if exc.errno == errno.ENODEV else f"read failed: {exc.strerror}")
                return
            if not batch:
                # Readable with nothing to read is end-of-file: without this the loop
                # would spin on a node that can no longer deliver anything.
                empty_reads[0] += 1
                if empty_reads[0] >= 3:
                    self.close()
                    on_gone("the input node stopped delivering (end of file)")
                return
            empty_reads[0] = 0
            if not _deliver(on_events, batch, on_gone):
                self.close()

        loop.add_reader(self._dev.fd, readable)

    def resync_keys(self) -> set[int]:
        """Keys held now, for recovering after SYN_DROPPED."""
        try:
            return {int(k) for k in self._dev.active_keys()}
        except OSError:
            return set()

    def close(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._dev.fd)
            self._loop = None
        with contextlib.suppress(OSError):
            self._dev.close()


class ReplaySource:
    """A recording played back in real time, looped: the demo's tablet and table.

    Format (JSON): `{"caps": InputCaps.as_dict(), "events": [[dt_s, type, code, value], ...]}`
    where dt_s is the delay since the previous event.
    """

    def __init__(self, path: Path, loop_forever: bool = True) -> None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputGone(f"cannot read recording {path}: {exc}") from exc
        self.caps = InputCaps.from_dict(data["caps"])
        self.events = [(float(dt), int(t), int(c), int(v)) for dt, t, c, v in data["events"]]
        self.loop_forever = loop_forever
        self._task: asyncio.Task[None] | None = None

    def start(self, on_events: Batch, on_gone: Gone) -> None:
        self._task = asyncio.create_task(self._play(on_events, on_gone), name="input-replay")

    async def _play(self, on_events: Batch, on_gone: Gone) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch: list[InputEvent] = []
            for dt, type_, code, value in self.events:
                if dt > 0 and batch:
                    if not _deliver(on_events, batch, on_gone):
                        return
                    batch = []
                if dt > 0:
                    await asyncio.sleep(dt)
                batch.append(InputEvent(loop.time(), type_, code, value))
            if batch and not _deliver(on_events, batch, on_gone):
                return
            if not self.loop_forever:
                on_gone("recording ended")
                return

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def open_source(source: str) -> InputSource:
    """`replay:///path/to/recording.json` or an evdev node path."""
    if source.startswith("replay://"):
        return ReplaySource(Path(source.removeprefix("replay://")))
    return EvdevSource(source)


def write_recording(path: Path, caps: InputCaps, events: list[tuple[float, int, int, int]]) -> None:
    path.write_text(json.dumps({"caps": caps.as_dict(), "events": [list(e) for e in events]}))
