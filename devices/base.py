"""The device model: what every classroom device is, independent of MQTT.

A device knows its identity, its availability and status, what it exposes
(properties and actions) and how to carry out an action. It reports changes
to a `DeviceHost` supplied by the daemon; it never builds a topic, never
touches the broker and never opens the HTTP server itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from classroomd.core.retry import RetryPolicy
from classroomd.core.vocabulary import Availability, Kind, Lesson, Localized, Priority, RequestError, Status

__all__ = ["Availability", "Kind", "Lesson", "Localized", "Priority", "RequestError", "Status"]

from classroomd.config.schema import DeviceConfig
from classroomd.services.board_hub import BoardHub
from classroomd.services.media import MediaStore
from classroomd.services.uploads import UploadStore

log = logging.getLogger("classroomd.devices")


@dataclass(frozen=True)
class Property:
    type: str  # JSON schema type name: "number", "integer", "string", "boolean", "object", "array"
    unit: str | None = None
    writable: bool = False
    description: str = ""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "writable": self.writable}
        if self.unit:
            out["unit"] = self.unit
        if self.description:
            out["description"] = self.description
        return out


class NoArgs(BaseModel):
    """Arguments of an action that takes none (the transaction id is allowed everywhere)."""

    model_config = ConfigDict(extra="forbid")


ArgsT = TypeVar("ArgsT", bound=BaseModel)
Handler = Callable[[Any, Any], Awaitable[Mapping[str, Any] | None]]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    args: type[BaseModel]
    description: str
    handler: Handler

    def describe(self) -> dict[str, Any]:
        return {"description": self.description, "args": self.args.model_json_schema()}


def action(
    name: str, args: type[BaseModel] = NoArgs, description: str = ""
) -> Callable[[Handler], Handler]:
    """Mark a coroutine method as the handler of a request action.

    The handler receives the validated arguments model and returns the reply's
    `data` (or None). It raises `RequestError` for a refusal the caller should see.
    """

    def mark(fn: Handler) -> Handler:
        fn.__classroomd_action__ = ActionSpec(name, args, description or (fn.__doc__ or ""), fn)  # type: ignore[attr-defined]
        return fn

    return mark


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


@dataclass
class DeviceInfo:
    """Identity and provenance of a device, as discovery or config found it."""

    id: str
    kind: Kind
    name: str
    vendor: str = ""
    model: str = ""
    serial: str = ""
    transport: str = ""  # "usb", "serial", "tcp", "network", "sim", "file"
    paths: list[str] = field(default_factory=list)
    vid: int | None = None
    pid: int | None = None
    matched_by: str = ""  # the rule that made this a device of this kind: for `discover`
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": str(self.kind),
            "name": self.name,
            "vendor": self.vendor,
            "model": self.model,
            "transport": self.transport,
            "paths": list(self.paths),
            "matched_by": self.matched_by,
        }
        if self.serial:
            out["serial"] = self.serial
        if self.vid is not None and self.pid is not None:
            out["usb"] = f"{self.vid:04x}:{self.pid:04x}"
        return out




class DeviceHost(Protocol):
    """What a device may ask of the daemon. Implemented by the agent; tests use their own."""

    @property
    def state_dir(self) -> Path: ...

    @property
    def http_base(self) -> str:
        """Absolute base URL of the daemon's HTTP server, e.g. `http://192.168.1.5:8080`."""
        ...

    @property
    def lesson(self) -> Lesson | None: ...

    def state_changed(self, device: Device) -> None:
        """The device's state or status changed: republish it (coalesced by the host)."""

    def device_lost(self, device: Device) -> None:
        """The device lost its hardware: the host stops it and opens it again with its back-off."""

    @property
    def retry_policy(self) -> RetryPolicy:
        """The one back-off for reopening, for the parts of a device that come and go on their own."""
        ...

    def emit(
        self, device: Device, name: str, data: Mapping[str, Any], priority: Priority = Priority.EVENT
    ) -> None:
        """Queue an event durably; it reaches subscribers even across network outages."""

    def alert(self, device: Device, code: str, severity: str, message: Localized) -> None:
        """Raise (or refresh) an active alert identified by (device, code)."""

    def clear_alert(self, device: Device, code: str) -> None: ...

    def device(self, device_id: str) -> Device | None:
        """Another device of this classroom, for features that span devices (push, ink)."""
        ...

    @property
    def media(self) -> MediaStore:
        """The lesson media store (captures, time-lapses, sidecars) in state_dir."""
        ...

    @property
    def uploads(self) -> UploadStore:
        """Files uploaded over HTTP (G-code for printers) in state_dir."""
        ...

    @property
    def board(self) -> BoardHub:
        """The lesson boards (web pages on panels) connected over WebSocket."""
        ...


class ActionTarget:
    """Something that answers requests through `@action` handlers: a device, or the agent."""

    def target_label(self) -> str:
        return type(self).__name__

    @classmethod
    def actions(cls) -> dict[str, ActionSpec]:
        found: dict[str, ActionSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                spec = getattr(attr, "__classroomd_action__", None)
                if isinstance(spec, ActionSpec):
                    found[spec.name] = spec
        return found

    async def request(self, name: str, args: Mapping[str, Any]) -> Mapping[str, Any]:
        """Validate and run an action. Raises RequestError for every refusal."""
        spec = self.actions().get(name)
        if spec is None:
            raise RequestError(
                "unknown_action",
                f"{self.target_label()} has no action {name!r}; "
                f"it has: {', '.join(sorted(self.actions())) or 'none'}",
            )
        try:
            parsed = spec.args.model_validate(dict(args))
        except ValidationError as exc:
            raise RequestError(
                "invalid_arguments", validation_message(exc), exc.errors(include_url=False)
            ) from exc
        result = await spec.handler(self, parsed)
        return dict(result or {})


class Device(ActionTarget):
    """Base of every device kind. Subclasses live one per module in `devices/`."""

    kind: ClassVar[Kind]
    #: Kind-specific config keys of a `[[devices]]` entry, validated by the config loader.
    Options: ClassVar[type[BaseModel] | None] = None

    def __init__(self, info: DeviceInfo, config: DeviceConfig | None = None) -> None:
        self.info = info
        self.config = config
        #: The validated kind-specific keys of the config entry (an `Options` instance), if any.
        self.options: BaseModel | None = None
        if self.Options is not None:
            self.options = self.Options.model_validate(config.extras if config else {})
        self.availability = Availability.OFFLINE
        self.status = Status.INIT
        self.reason = ""
        self._host: DeviceHost | None = None
        self.log = logging.LoggerAdapter(log, {"device": info.id})

    @classmethod
    def from_config(cls, config: DeviceConfig, found: DeviceInfo | None = None) -> Self:
        """Build from a `[[devices]]` entry, optionally merged with what discovery found."""
        info = found or DeviceInfo(
            id=config.id,
            kind=config.kind,
            name=config.name or config.id,
            transport="tcp" if config.host else ("serial" if config.port else ""),
            paths=[p for p in (config.port, config.source) if p],
            matched_by="config entry",
        )
        if config.name:
            info.name = config.name
        return cls(info, config)

    # --- identity -------------------------------------------------------
    def target_label(self) -> str:
        return f"device {self.id} ({self.kind})"

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def host(self) -> DeviceHost:
        if self._host is None:
            raise RuntimeError(f"device {self.id} is not started")
        return self._host

    # --- lifecycle ------------------------------------------------------
    async def start(self, host: DeviceHost) -> None:
        """Open the device. Subclasses call super().start(host) first, then open."""
        self._host = host

    async def stop(self) -> None:
        """Close the device; must not raise when the hardware is already gone."""

    def set_status(self, status: Status, reason: str = "") -> None:
        online = status in (Status.READY, Status.BUSY)
        changed = (status, reason) != (self.status, self.reason)
        self.status = status
        self.reason = reason
        self.availability = Availability.ONLINE if online else Availability.OFFLINE
        if changed:
            if status is Status.FAULT:
                self.log.warning("status %s: %s", status, reason)
            else:
                self.log.info("status %s%s", status, f": {reason}" if reason else "")
            self.changed()

    def lost(self, reason: str) -> None:
        """The hardware went away (unplugged, stopped answering). The device only says so; reopening is
        the host's job, with one back-off for every kind."""
        self.set_status(Status.LOST, reason)
        if self._host is not None:
            self._host.device_lost(self)

    def changed(self) -> None:
        if self._host is not None:
            self._host.state_changed(self)

    # --- what it exposes --------------------------------------------------
    def properties(self) -> dict[str, Property]:
        return {}

    def state(self) -> dict[str, Any]:
        """Kind-specific state fields (the base fields are added by `snapshot`)."""
        return {}

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": str(self.kind),
            "name": self.name,
            "vendor": self.info.vendor,
            "model": self.info.model,
            "availability": str(self.availability),
            "status": str(self.status),
        }
        if self.reason:
            out["reason"] = self.reason
        out.update(self.state())
        return out

    def describe(self) -> dict[str, Any]:
        return {
            **self.info.describe(),
            "properties": {k: p.describe() for k, p in self.properties().items()},
            "actions": {k: a.describe() for k, a in self.actions().items()},
        }

    def usage_report(self) -> dict[str, Any] | None:
        """How much the device is used (active minutes overall and in the current lesson),
        published with health; None for a device that does not measure use."""
        return None

    def http_url(self, endpoint: str) -> str:
        return f"{self.host.http_base}/devices/{self.id}/{endpoint}"
