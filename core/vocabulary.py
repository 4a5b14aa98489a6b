"""Names and small records shared by devices, the bus, the web pages and the central server."""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

#: Topic levels of the contract that can never be device ids.
RESERVED_IDS = frozenset({"agent", "devices", "lesson", "alert"})


class Kind(str):
    """A device kind: one of the six the project ships, or one a kind module registers.

    A string (it is on the wire as it is) that only registered names can become, so a typo in a
    config or a catalog rule is an error, and a new kind needs no edit here: its module calls
    `Kind.register("document_camera")`. Registered kinds are interned, so `kind is Kind.PRINTER` holds.
    """

    __slots__ = ()
    _known: ClassVar[dict[str, Kind]] = {}

    PANEL: ClassVar[Kind]
    MICROSCOPE: ClassVar[Kind]
    TABLET: ClassVar[Kind]
    TOUCH_TABLE: ClassVar[Kind]
    GLOBE: ClassVar[Kind]
    PRINTER: ClassVar[Kind]

    def __new__(cls, value: object) -> Kind:
        known = cls._known.get(str(value))
        if known is None:
            names = ", ".join(repr(k) for k in cls._known)
            raise ValueError(f"{value!r} is not a device kind; expected one of {names}")
        return known

    @classmethod
    def register(cls, name: str) -> Kind:
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,30}", name):
            raise ValueError(f"kind names are lowercase words joined by _, not {name!r}")
        if name not in cls._known:
            cls._known[name] = str.__new__(cls, name)
        return cls._known[name]

    @classmethod
    def forget(cls, name: str) -> None:
        """Unregister a kind (a test's own kind, when the test ends)."""
        cls._known.pop(name, None)

    @classmethod
    def all(cls) -> list[Kind]:
        return list(cls._known.values())

    def __repr__(self) -> str:
        return f"Kind({str.__repr__(self)})"

    def __reduce__(self) -> tuple[type[Kind], tuple[str]]:
        return (Kind, (str(self),))


Kind.PANEL = Kind.register("panel")
Kind.MICROSCOPE = Kind.register("microscope")
Kind.TABLET = Kind.register("tablet")
Kind.TOUCH_TABLE = Kind.register("touch_table")
Kind.GLOBE = Kind.register("globe")
Kind.PRINTER = Kind.register("printer")


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


class CodedError(Exception):
    """A refusal with a stable machine-readable code and a readable message: the base of every error
    that reaches a person or a client (requests, uploads, G-code checks, remote calls)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, dict[str, str]]:
        """The error as MQTT replies and HTTP responses carry it."""
        return {"error": {"code": self.code, "message": self.message}}


class RequestError(CodedError):
    """A request refused; `details` may carry the validation errors."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(code, message)
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
