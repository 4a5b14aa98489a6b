"""The inventory's changes: a device added, gone, back, changed (a new serial is a replacement),
or moved from another classroom; each is a row of `inventory_log`, for the person materially
responsible for the equipment."""

from __future__ import annotations

import json
from typing import Any

from classroomd.central.batch import Batch
from classroomd.central.fleet import Classroom, Device, Fleet

IDENTITY = ("kind", "vendor", "model", "serial")


def _log(batch: Batch, room: Classroom, device: Device, now: float, what: str, detail: Any = None) -> None:
    batch.inventory_log.append({"site": room.site, "room": room.room, "device": device.id, "at": now, "what": what,
                                "detail": json.dumps(detail, ensure_ascii=False) if detail is not None else None})


def present(fleet: Fleet, room: Classroom, device_id: str, now: float, batch: Batch) -> Device:
    """The device is in the classroom now."""
    device = room.devices.get(device_id)
    if device is None:
        device = fleet.device(room, device_id, now)
        _log(batch, room, device, now, "added")
    elif device.gone:
        device.gone = False
        Fleet.update_bad(device, now)
        _log(batch, room, device, now, "back")
    device.last_seen = now
    return device


def gone(room: Classroom, device: Device, now: float, batch: Batch) -> None:
    if device.gone:
        return
    device.gone = True
    Fleet.update_bad(device, now)
    _log(batch, room, device, now, "gone")
    batch.devices[(room.site, room.room, device.id)] = device.row(room.site, room.room)


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value is not None else None


def describe(fleet: Fleet, room: Classroom, device: Device, item: dict[str, Any], now: float, batch: Batch) -> None:
    """Take what an inventory entry or a device state says about the device."""
    new: dict[str, str | None] = {}
    for attr in ("kind", "name", "vendor", "model", "status"):
        if item.get(attr) is not None:
            new[attr] = _text(item[attr], 32 if attr in ("kind", "status") else 200)
    serial = item.get("serial") or item.get("serial_number")
    if serial:
        new["serial"] = _text(serial, 200)
    changes = {attr: [getattr(device, attr), value] for attr, value in new.items()
               if attr in IDENTITY and getattr(device, attr) is not None and getattr(device, attr) != value}
    if changes:
        _log(batch, room, device, now, "changed", changes)
    new_serial = new.get("serial")
    if new_serial and new_serial != device.serial:
        origin = _elsewhere(fleet, room, new_serial)
        if origin is not None:
            _log(batch, room, device, now, "moved", {"from": f"{origin[0].site}/{origin[0].room}/{origin[1].id}"})
            gone(origin[0], origin[1], now, batch)
    for attr, value in new.items():
        setattr(device, attr, value)
    Fleet.update_bad(device, now)


def _elsewhere(fleet: Fleet, here: Classroom, serial: str) -> tuple[Classroom, Device] | None:
    # Only when a serial is new to a device: rare, so a scan of the fleet is fine.
    for room in fleet.classrooms.values():
        if room is here:
            continue
        for device in room.devices.values():
            if device.serial == serial:
                return room, device
    return None
