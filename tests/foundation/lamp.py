"""A minimal device kind used to test the bus contract without hardware."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from classroomd.devices.base import Device, DeviceInfo, Kind, NoArgs, Property, Status, action


class Brightness(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(ge=0, le=100)


class Lamp(Device):
    kind = Kind.PANEL

    def __init__(self, device_id: str) -> None:
        super().__init__(DeviceInfo(id=device_id, kind=Kind.PANEL, name=f"Lamp {device_id}", vendor="Test",
                                    model="L1", transport="sim"))
        self.level = 0

    async def start(self, host: Any) -> None:
        await super().start(host)
        self.set_status(Status.READY)

    def properties(self) -> dict[str, Property]:
        return {"level": Property("integer", unit="%", writable=True)}

    def state(self) -> dict[str, Any]:
        return {"level": self.level}

    @action("set", Brightness, "Set the brightness.")
    async def set_level(self, args: Brightness) -> dict[str, Any]:
        self.level = args.level
        self.changed()
        self.host.emit(self, "level_changed", {"level": args.level})
        return {"level": self.level}

    @action("explode")
    async def explode(self, _args: NoArgs) -> dict[str, Any]:
        raise RuntimeError("the bulb burst")
