"""Which HTTP endpoints a device has at `/devices/{id}/{name}`: the handlers live in web/, devices only hold state.

A kind's endpoint module is imported on the first request for a device of that kind, so the web
server of a classroom without a microscope never loads OpenCV.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from classroomd.devices.base import Device

DeviceEndpoint = Callable[[Any, web.Request], Awaitable[web.StreamResponse]]

#: kind -> module with `SERVES` (the device class it knows) and `ENDPOINTS` (name -> handler).
BY_KIND: dict[str, str] = {"microscope": "classroomd.web.microscope_http"}
_by_type: dict[type[Device], dict[str, DeviceEndpoint]] = {}


def register(device_type: type[Device], endpoints: dict[str, DeviceEndpoint]) -> None:
    """Endpoints for a device class the table above does not name (a kind added by its own module)."""
    _by_type[device_type] = endpoints


def endpoints_of(device: Device) -> dict[str, DeviceEndpoint]:
    for device_type, endpoints in _by_type.items():
        if isinstance(device, device_type):
            return endpoints
    module_name = BY_KIND.get(str(device.kind))
    if module_name is not None:
        module = importlib.import_module(module_name)
        if isinstance(device, module.SERVES):
            found: dict[str, DeviceEndpoint] = module.ENDPOINTS
            return found
    return {}
