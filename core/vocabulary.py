"""Names and small records shared by devices, the bus, the web pages and the central server."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class Kind(enum.StrEnum):
    PANEL = "panel"
    MICROSCOPE = "microscope"
    TABLET = "tablet"
    TOUCH_TABLE = "touch_table"
    GLOBE = "globe"
    PRINTER = "printer"


class Availability(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Status(enum.StrEnum):
    """Lifecycle: init -> ready (<-> busy) -> lost/offline; fault and unidentified on the side."""

    INIT = "init"
    READY = "ready"
    BUSY = "busy"
    FAULT = "fault"
    LOST = "lost"
    OFFLINE = "offline"
    UNIDENTIFIED = "unidentified"


class Priority(enum.IntEnum):
    """Outbox priority: lower drains first and is dropped last when the outbox is full."""

    ALERT = 0
    STATE = 1
    EVENT = 2
    TELEMETRY = 3


@dataclass(frozen=True)
class Localized:
    """A user-facing message in the three languages of the field."""

    kk: str
    ru: str
    en: str

    def as_dict(self) -> dict[str, str]:
        return {"kk": self.kk, "ru": self.ru, "en": self.en}


class RequestError(Exception):
    """A request refused with a stable machine-readable code and a readable message."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass
class Lesson:
    """The lesson in progress, as `B/lesson` carries it."""

    id: str
    subject: str = ""
    teacher: str = ""
    started: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Lesson:
        return cls(id=str(data["id"]), subject=str(data.get("subject", "")), teacher=str(data.get("teacher", "")),
                   started=str(data.get("started", "")))

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
