"""The devices this classroom has right now, whatever found them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from classroomd.devices.base import Device

Listener = Callable[[Device], None]


class Registry:
    def __init__(self) -> None:
        self._devices: dict[str, Device] = {}
        self.on_added: list[Listener] = []
        self.on_removed: list[Listener] = []

    def __contains__(self, device_id: str) -> bool:
        return device_id in self._devices

    def __iter__(self) -> Iterator[Device]:
        return iter(list(self._devices.values()))

    def __len__(self) -> int:
        return len(self._devices)

    def get(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def add(self, device: Device) -> None:
        if device.id in self._devices:
            raise ValueError(f"device id {device.id!r} is already in use")
        self._devices[device.id] = device
        for listener in self.on_added:
            listener(device)

    def remove(self, device_id: str) -> Device | None:
        device = self._devices.pop(device_id, None)
        if device is not None:
            for listener in self.on_removed:
                listener(device)
        return device
