"""Device kinds: one module per kind; each defines one `Device` subclass, registered in `devices/kinds.py`."""

from __future__ import annotations

from classroomd.devices.base import Device
from classroomd.devices.kinds import spec_of


def device_class(kind: str) -> type[Device]:
    """The class of a kind, imported now: a kind's module may pull in OpenCV or evdev, which a
    classroom without that kind of device should not pay for at start-up."""
    return spec_of(kind).device_class()
