"""What tablets, touch tables and other evdev-based devices share.

Opening the source, surviving an unplug (LOST, then reopened when the node
comes back), usage metering and throttled `activity` events live here; each
kind's module only interprets its events.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from classroomd.devices.base import Device, Priority, Property, Status
from classroomd.devices.usage import ActivityThrottle, UsageMeter
from classroomd.drivers.evdev_input import InputCaps, InputEvent, InputGone, InputSource, open_source


class InputOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Seconds between `activity` events while the device is in use.
    activity_every_s: float = Field(5.0, gt=0)
    #: Seconds without input after which a period of use ends.
    idle_gap_s: float = Field(30.0, gt=0)


class InputDevice(Device):
    Options: ClassVar[type[BaseModel] | None] = InputOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.input_options
        self.source: InputSource | None = None
        self.caps = InputCaps()
        self.usage = UsageMeter(idle_gap_s=opts.idle_gap_s)
        self.activity = ActivityThrottle(opts.activity_every_s)

    @property
    def input_options(self) -> InputOptions:
        assert isinstance(self.options, InputOptions)
        return self.options

    @property
    def source_path(self) -> str:
        path = (self.config.source if self.config else None) or (self.info.paths[0] if self.info.paths else "")
        if not path:
            raise InputGone(f"{self.id}: no input node configured (set `source` to a /dev/input/event* path)")
        return path

    async def start(self, host: Any) -> None:
        await super().start(host)
        self._open()

    def _open(self) -> None:
        source = open_source(self.source_path)
        self.caps = source.caps
        self.on_opened(source.caps)
        self.source = source
        source.start(self._events, self._gone)
        self.set_status(Status.READY)

    def _events(self, batch: list[InputEvent]) -> None:
        try:
            self.on_events(batch)
        except Exception:
            # A malformed report from a cheap device must not stop its reader.
            self.log.exception("could not interpret %d input events", len(batch))

    def _gone(self, reason: str) -> None:
        self.source = None
        self.on_closed()
        self.lost(reason)

    async def stop(self) -> None:
        if self.source is not None:
            self.source.close()
            self.source = None
        self.on_closed()
        if self.status in (Status.READY, Status.BUSY):
            self.set_status(Status.OFFLINE)

    def used(self, count: int = 1, summary: dict[str, Any] | None = None) -> None:
        """Record activity; publish an `activity` summary at most every few seconds."""
        lesson = self.host.lesson
        self.usage.mark(lesson.id if lesson else None, count)
        if self.activity.due():
            self.host.emit(self, "activity", {**self.usage.as_dict(lesson.id if lesson else None), **(summary or {})},
                           Priority.TELEMETRY)
            self.changed()

    # --- for subclasses -------------------------------------------------------
    def on_opened(self, caps: InputCaps) -> None:
        """Check the node is what this kind expects; raise InputGone if not."""

    def on_events(self, batch: list[InputEvent]) -> None:
        raise NotImplementedError

    def on_closed(self) -> None:
        """The node is closed or gone: forget what was held on it (no release event will come)."""

    def input_properties(self) -> dict[str, Property]:
        return {
            "last_activity": Property("string", description="ISO time of the last input"),
            "events_per_min": Property("integer"),
            "active_min": Property("number", unit="min", description="active minutes since the daemon started"),
        }

    def usage_report(self) -> dict[str, Any] | None:
        return self.input_state()

    def input_state(self) -> dict[str, Any]:
        lesson = self._host.lesson if self._host is not None else None
        return self.usage.as_dict(lesson.id if lesson else None)
