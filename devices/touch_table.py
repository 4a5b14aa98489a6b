"""Multi-touch tables: contacts now and at peak, touches, usage."""

from __future__ import annotations

from typing import Any

from classroomd.devices.base import Kind, Property
from classroomd.devices.input_device import InputDevice
from classroomd.devices.input_tracking import MultiTouchTracker, PacedChanges
from classroomd.drivers.evdev_input import ABS_MT_SLOT, ABS_MT_TRACKING_ID, InputCaps, InputEvent, InputGone


class TouchTableDevice(InputDevice):
    kind = Kind.TOUCH_TABLE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._paced = PacedChanges(super().changed)
        self._status_seen: tuple[Any, str] | None = None
        super().__init__(*args, **kwargs)
        self.touch: MultiTouchTracker | None = None

    def changed(self) -> None:
        # The contact count is live telemetry: at most once a second on the broker, while it
        # changes; a status change (plugged, unplugged) goes out at once.
        seen = (self.status, self.reason)
        urgent, self._status_seen = seen != self._status_seen, seen
        self._paced.change(urgent)

    async def stop(self) -> None:
        await super().stop()
        self._paced.close()

    def on_opened(self, caps: InputCaps) -> None:
        if ABS_MT_SLOT not in caps.abs or ABS_MT_TRACKING_ID not in caps.abs:
            raise InputGone(f"{caps.name or 'this node'} is not a multi-touch (type B) device")
        self.touch = MultiTouchTracker(caps)

    def on_closed(self) -> None:
        # Unplugged with fingers down (the reader's ENODEV): no release comes, and a `lost` state
        # still counting them would show contacts on a table that is not there.
        if self.touch is not None:
            self.touch.release_all()

    def on_events(self, batch: list[InputEvent]) -> None:
        assert self.touch is not None
        before = self.touch.contacts
        frames = self.touch.feed(batch)
        if not frames:
            return
        began = sum(f.began for f in frames)
        if self.touch.contacts or began:
            self.used(len(frames), {"touches": self.touch.touches, "peak_contacts": self.touch.peak})
        if (before == 0) != (self.touch.contacts == 0):
            self.changed()

    def properties(self) -> dict[str, Property]:
        return {
            **self.input_properties(),
            "contacts": Property("integer", description="fingers on the surface now"),
            "peak_contacts": Property("integer", description="most fingers at once since start"),
            "max_contacts": Property("integer", description="what the controller can track"),
            "touches": Property("integer", description="touches since start"),
        }

    def state(self) -> dict[str, Any]:
        touch = self.touch
        return {
            **self.input_state(),
            "contacts": touch.contacts if touch else 0,
            "peak_contacts": touch.peak if touch else 0,
            "max_contacts": self.caps.max_contacts,
            "touches": touch.touches if touch else 0,
            "resyncs": touch.resyncs if touch else 0,
        }
