"""Pen tablets: pen state, usage, and ink on the lesson board.

With `attach`, strokes go to a panel's board as normalised points with
pressure, simplified and batched at most 30 times a second; when the board
shows a capture, each finished stroke is also saved as a vector annotation
in the capture's sidecar, so the annotated still is in the lesson gallery.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from classroomd.devices.base import Kind, NoArgs, Property, RequestError, action
from classroomd.devices.input_device import InputDevice, InputOptions
from classroomd.devices.input_tracking import PacedChanges, PenSample, PenTracker
from classroomd.drivers.evdev_input import ABS_PRESSURE, ABS_X, BTN_TOOL_PEN, InputCaps, InputEvent, InputGone

Point = tuple[float, float, float]


class TabletOptions(InputOptions):
    ink_color: str = Field("#e53935", pattern=r"^#[0-9a-fA-F]{6}$")
    ink_width: float = Field(3.0, gt=0, le=50)
    #: Batches per second sent to the board while drawing.
    ink_rate_hz: float = Field(30.0, gt=0, le=30)
    #: Points closer than this (fraction of the tablet's width) to the last kept one are dropped.
    min_step: float = Field(0.002, ge=0, lt=0.1)
    #: Attach to this panel's board at start (otherwise on an `attach` request).
    panel: str | None = None


class AttachArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    panel: str = Field(description="id of the panel whose board shows the ink")


def simplify(points: list[Point], epsilon: float) -> list[Point]:
    """Ramer–Douglas–Peucker on x, y: the saved annotation keeps the shape with fewer points."""
    if len(points) < 3:
        return list(points)
    (x1, y1, _), (x2, y2, _) = points[0], points[-1]
    dx, dy = x2 - x1, y2 - y1
    norm = math.hypot(dx, dy)
    worst, index = -1.0, 0
    for i, (x, y, _) in enumerate(points[1:-1], start=1):
        dist = math.hypot(x - x1, y - y1) if norm == 0 else abs(dy * x - dx * y + x2 * y1 - y2 * x1) / norm
        if dist > worst:
            worst, index = dist, i
    if worst <= epsilon:
        return [points[0], points[-1]]
    return simplify(points[: index + 1], epsilon)[:-1] + simplify(points[index:], epsilon)


class TabletDevice(InputDevice):
    kind = Kind.TABLET
    Options: ClassVar[type[BaseModel] | None] = TabletOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._paced = PacedChanges(super().changed)
        self._status_seen: tuple[Any, str] | None = None
        super().__init__(*args, **kwargs)
        self.pen: PenTracker | None = None
        self.last: PenSample | None = None
        self.attached_panel: str | None = None
        self.strokes_drawn = 0
        self._stroke_ids = itertools.count(1)
        self._stroke: list[Point] = []
        self._stroke_id = 0
        self._unsent: list[Point] = []
        #: The pending batch send; armed by the first unsent point, so an idle pen costs no wake-ups.
        self._flush_timer: asyncio.TimerHandle | None = None

    @property
    def opts(self) -> TabletOptions:
        assert isinstance(self.options, TabletOptions)
        return self.options

    def on_opened(self, caps: InputCaps) -> None:
        if ABS_X not in caps.abs or not ({BTN_TOOL_PEN} & caps.keys or ABS_PRESSURE in caps.abs):
            raise InputGone(f"{caps.name or 'this node'} reports no pen (no ABS_X with BTN_TOOL_PEN/ABS_PRESSURE)")
        self.pen = PenTracker(caps)

    def on_closed(self) -> None:
        # Unplugged mid-stroke: the pen is neither near nor on a tablet that is gone.
        self.last = None
        self._stroke = []
        self._unsent = []

    def on_events(self, batch: list[InputEvent]) -> None:
        assert self.pen is not None
        samples = self.pen.feed(batch)
        if not samples:
            return
        was = self.last
        for sample in samples:
            self._ink(sample)
        self.last = samples[-1]
        if self.last.in_proximity:
            self.used(len(samples), {"strokes": self.strokes_drawn})
        if was is None or (was.in_proximity, was.touching) != (self.last.in_proximity, self.last.touching):
            self.changed()

    async def start(self, host: Any) -> None:
        await super().start(host)
        if self.opts.panel and self.attached_panel is None:
            self.attached_panel = self.opts.panel

    def _arm_flush(self) -> None:
        if self._flush_timer is None and self.attached_panel is not None:
            loop = asyncio.get_running_loop()
            self._flush_timer = loop.call_later(1 / self.opts.ink_rate_hz, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        if len(self._unsent) > 1 or (self._unsent and not self._stroke):
            self._flush()

    def _cancel_flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None

    # --- ink ------------------------------------------------------------------
    def _ink(self, sample: PenSample) -> None:
        drawing = sample.touching and sample.tool == "pen"
        if drawing:
            if not self._stroke:
                self._stroke_id = next(self._stroke_ids)
            point = (round(sample.x, 4), round(sample.y, 4), round(sample.pressure, 3))
            last = self._stroke[-1] if self._stroke else None
            if last is None or math.hypot(point[0] - last[0], point[1] - last[1]) >= self.opts.min_step:
                self._stroke.append(point)
                self._unsent.append(point)
                self._arm_flush()
        elif self._stroke:
            self._finish_stroke()

    def _finish_stroke(self) -> None:
        stroke, self._stroke = self._stroke, []
        self.strokes_drawn += 1
        self._flush(final=True)
        panel = self.attached_panel
        if panel is None or self._host is None:
            return
        shown = self.host.board.current(panel) or {}
        media_id = shown.get("media")
        if isinstance(media_id, str):
            annotation = {
                "type": "stroke",
                "tool": "pen",
                "device": self.id,
                "color": self.opts.ink_color,
                "width": self.opts.ink_width,
                "aspect": round(self.caps.aspect(), 4),
                "points": [list(p) for p in simplify(stroke, 0.0015)],
            }
            try:
                self.host.media.add_annotations(media_id, [annotation])
            except Exception as exc:
                self.log.warning("could not save the stroke on %s: %s", media_id, exc)

    def _flush(self, final: bool = False) -> None:
        if self.attached_panel is None or not self._unsent or self._host is None:
            self._unsent = [] if final else self._unsent
            return
        points, self._unsent = self._unsent, []
        # Keep the joint point so consecutive batches of one stroke connect on the board.
        if not final and self._stroke:
            self._unsent = [points[-1]]
        self.host.board.send(self.attached_panel, {
            "type": "ink",
            "source": self.id,
            "aspect": round(self.caps.aspect(), 4),
            "strokes": [{"id": self._stroke_id, "points": [list(p) for p in points], "color": self.opts.ink_color,
                         "width": self.opts.ink_width, "final": final}],
        })

    # --- requests -------------------------------------------------------------
    @action("attach", AttachArgs, "Draw this tablet's pen strokes on a panel's lesson board.")
    async def attach(self, args: AttachArgs) -> dict[str, Any]:
        panel = self.host.device(args.panel)
        if panel is None or panel.kind != Kind.PANEL:
            raise RequestError("unknown_device", f"no panel {args.panel!r} in this classroom")
        self.attached_panel = args.panel
        self.changed()
        return {"panel": args.panel, "aspect": round(self.caps.aspect(), 4),
                "boards": self.host.board.connected(args.panel)}

    @action("detach", description="Stop drawing on the board.")
    async def detach(self, _args: NoArgs) -> dict[str, Any]:
        was = self.attached_panel
        if self._stroke:
            self._finish_stroke()
        self.attached_panel = None
        self._cancel_flush()
        self.changed()
        return {"panel": was}

    @action("clear_ink", description="Remove this tablet's ink from the board (saved annotations stay).")
    async def clear_ink(self, _args: NoArgs) -> dict[str, Any]:
        if self.attached_panel is None:
            raise RequestError("not_attached", f"{self.id} is not attached to a panel; send `attach` first")
        delivered = self.host.board.send(self.attached_panel, {"type": "ink", "source": self.id, "clear": True,
                                                               "strokes": []})
        return {"panel": self.attached_panel, "boards": delivered}

    async def stop(self) -> None:
        self._cancel_flush()
        await super().stop()
        self._paced.close()

    def changed(self) -> None:
        # Pen up, pen down, proximity: at most once a second on the broker; a status change at once.
        seen = (self.status, self.reason)
        urgent, self._status_seen = seen != self._status_seen, seen
        self._paced.change(urgent)

    # --- description ----------------------------------------------------------
    def properties(self) -> dict[str, Property]:
        return {
            **self.input_properties(),
            "in_proximity": Property("boolean"),
            "touching": Property("boolean"),
            "pressure": Property("number", description="0..1"),
            "tool": Property("string"),
            "attached_panel": Property("string"),
            "pressure_levels": Property("integer"),
            "tilt": Property("boolean", description="the pen reports tilt"),
        }

    def state(self) -> dict[str, Any]:
        last = self.last
        return {
            **self.input_state(),
            "in_proximity": bool(last and last.in_proximity),
            "touching": bool(last and last.touching),
            "pressure": round(last.pressure, 3) if last else 0.0,
            "tool": last.tool if last else None,
            "buttons": sorted(last.buttons) if last else [],
            "attached_panel": self.attached_panel,
            "strokes": self.strokes_drawn,
            "pressure_levels": self.caps.pressure_levels,
            "tilt": self.caps.has_tilt,
            "aspect": round(self.caps.aspect(), 4),
        }
