"""The registry of device kinds: what each kind brings, declared once, read by everything else.

The daemon's device factory, the demo's simulators, the discovery catalog and the AsyncAPI
generator all read this registry instead of keeping their own lists. A new kind is one module that
calls `register(KindSpec(...))` when imported, plus its data; the six shipped kinds are declared
below by name, so importing the registry does not import OpenCV or evdev for kinds this classroom
does not have.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from classroomd.core.vocabulary import Kind

if TYPE_CHECKING:
    from classroomd.devices.base import Device


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    #: "module:Class" of the device, imported only when a device of this kind exists.
    device: str
    #: "module:function" returning the demo's simulated device (a `DemoDevice`), if the kind has one.
    simulator: str | None = None
    #: Discovery catalog rules (the keys of a `[[rule]]` in config/catalog.toml) that find this kind.
    catalog_rules: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)

    def device_class(self) -> type[Device]:
        from classroomd.devices.base import Device

        module_name, _, class_name = self.device.partition(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        if not (isinstance(cls, type) and issubclass(cls, Device)):
            raise TypeError(f"{self.device} is not a Device class")
        return cls


_SPECS: dict[Kind, KindSpec] = {}


def register(spec: KindSpec) -> KindSpec:
    _SPECS[spec.kind] = spec
    return spec


def unregister(kind: str) -> None:
    """Forget a kind and its name (a test's own kind, when the test ends)."""
    _SPECS.pop(Kind(kind), None)
    Kind.forget(kind)


def spec_of(kind: str) -> KindSpec:
    return _SPECS[Kind(kind)]


def specs() -> list[KindSpec]:
    return list(_SPECS.values())


for _kind, _device, _simulator in (
    (Kind.PANEL, "classroomd.devices.panel:PanelDevice", "classroomd.simulators.panel:start_demo"),
    (Kind.MICROSCOPE, "classroomd.devices.microscope:MicroscopeDevice", "classroomd.simulators.microscope:start_demo"),
    (Kind.TABLET, "classroomd.devices.tablet:TabletDevice", "classroomd.simulators.input:start_demo_tablet"),
    (Kind.TOUCH_TABLE, "classroomd.devices.touch_table:TouchTableDevice",
     "classroomd.simulators.input:start_demo_touch_table"),
    (Kind.GLOBE, "classroomd.devices.globe:GlobeDevice", "classroomd.simulators.globe:start_demo"),
    (Kind.PRINTER, "classroomd.devices.printer:PrinterDevice", "classroomd.simulators.printer:start_demo"),
):
    register(KindSpec(_kind, _device, _simulator))
