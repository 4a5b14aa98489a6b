"""Payload models of the MQTT contract.

They document every payload (the AsyncAPI document is generated from them)
and build the agent's own messages; device state is kind-specific and so is
only described by its common fields here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Stable error codes of responses; device kinds add their own (documented in docs/mqtt.md).
ERROR_CODES = {
    "bad_json": "the payload is not valid UTF-8 JSON",
    "bad_request": "the payload is JSON but not an object",
    "unknown_device": "no device with that id in this classroom",
    "unknown_action": "the target has no such action",
    "invalid_arguments": "arguments do not match the action's schema",
    "device_unavailable": "the device is offline or faulty",
    "busy": "the device is doing something that excludes this request",
    "timeout": "the device did not finish in time",
    "internal_error": "a bug: the daemon logged it and keeps running",
}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class AgentState(Payload):
    state: Literal["init", "online", "offline"]
    session: int
    version: str
    host: str
    started: str = Field(description="ISO-8601 time the daemon started")
    http: str = Field(description="base URL of the daemon's HTTP server")


class Delivery(Open):
    """Fields of every message that goes through the durable outbox."""

    seq: int = Field(description="per stream, +1 per message within a session")
    session: int
    ts: str
    msg_id: str = Field(description="unique id; a reader de-duplicates by it")
    replayed: bool | None = Field(None, description="true when delivered late from the outbox")


class UplinkStatus(Payload):
    """The district link, counted at the socket (MQTT bytes; TLS adds its own on top)."""

    bytes_sent_today: int = Field(description="MQTT bytes written to the district since local midnight")
    bytes_received_today: int | None = None
    connects_today: int | None = Field(None, description="connections to the district made today")
    outbox_depth: int | None = Field(None, description="messages waiting for the district")
    connected_broker: str | None = None


class Health(Delivery):
    status: Literal["ok", "degraded", "fault"]
    uptime_s: float
    outbox_depth: int
    outbox_dropped: int = 0
    devices: dict[str, str] = Field(description="device id -> status")
    connected_broker: str | None = None
    alerts: int = 0
    lesson: str | None = None
    usage: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="device id -> active_min, lesson_active_min, events_per_min, last_activity "
        "(devices that measure use); counters since the session started. The district's compact "
        "health carries only active_min and lesson_active_min")
    uplink: UplinkStatus | None = Field(None, description="present when an [uplink] is configured")


class InventoryItem(Payload):
    id: str
    kind: str
    name: str
    vendor: str
    model: str
    availability: Literal["online", "offline"]
    status: str


class DeviceState(Open):
    id: str
    kind: str
    name: str
    availability: Literal["online", "offline"]
    status: str
    reason: str | None = None


class Event(Delivery):
    """`B/{id}/event/{name}`: kind-specific fields beside the delivery fields."""


class Request(Open):
    transaction: Any = Field(None, description="echoed in the response")


class ErrorBody(Payload):
    code: str
    message: str
    details: Any = None


class Response(Payload):
    status: Literal["ok", "error"]
    transaction: Any = None
    data: dict[str, Any] | None = None
    error: ErrorBody | None = None


class LessonState(Payload):
    id: str
    subject: str
    teacher: str
    started: str


class LocalizedText(Payload):
    kk: str
    ru: str
    en: str


class Alert(Delivery):
    severity: Literal["info", "warning", "critical"]
    device: str
    code: str
    message: LocalizedText
    since: str


class LessonStartArgs(Payload):
    id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    subject: str = Field(min_length=1, max_length=200)
    teacher: str = Field(min_length=1, max_length=200)
    linked: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64}$")]] = Field(
        default_factory=list, max_length=8,
        description="classrooms that join the lesson and mirror this room's board, `{site}/{room}` (docs/linked.md)")
