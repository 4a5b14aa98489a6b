"""Device kinds: one module per kind; each defines one `Device` subclass."""

from __future__ import annotations

import importlib

from classroomd.devices.base import Device, Kind

# Imported lazily: a kind's module may pull in OpenCV or evdev, which a
# classroom without that kind of device should not pay for at start-up.
_CLASSES: dict[Kind, str] = {
    Kind.PANEL: "classroomd.devices.panel:PanelDevice",
    Kind.MICROSCOPE: "classroomd.devices.microscope:MicroscopeDevice",
    Kind.TABLET: "classroomd.devices.tablet:TabletDevice",
    Kind.TOUCH_TABLE: "classroomd.devices.touch_table:TouchTableDevice",
    Kind.GLOBE: "classroomd.devices.globe:GlobeDevice",
    Kind.PRINTER: "classroomd.devices.printer:PrinterDevice",
}


def device_class(kind: str | Kind) -> type[Device]:
    module_name, _, class_name = _CLASSES[Kind(kind)].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    assert isinstance(cls, type) and issubclass(cls, Device)
    return cls
