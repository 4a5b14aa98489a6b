"""Shapes of the HTTP API's answers; the OpenAPI document is generated from them and the
tests check real answers against them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Presence = Literal["online", "offline", "stale", "unknown"]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceOut(Out):
    id: str
    kind: str | None
    name: str | None
    status: str | None
    availability: Presence = Field(description="online/offline from the agent; stale while central is cut off")
    since: str | None = Field(description="ISO-8601: when the availability last changed")
    last_seen: str | None


class ClassroomOut(Out):
    site: str
    room: str
    presence: Presence = Field(description="offline: the agent's will or its own offline; stale: central lost "
                                           "its broker and cannot know")
    since: str | None = Field(description="ISO-8601: when the presence last changed")
    last_seen: str | None = Field(description="ISO-8601: the last live message from the classroom")
    age_s: float | None = Field(description="seconds since last_seen: how old the state shown is")
    session: int | None
    status: str | None = Field(description="health status of the newest live report")
    outbox_depth: int | None
    lesson: dict[str, Any] | None
    devices: list[DeviceOut]


class SiteOut(Out):
    site: str
    classrooms: int
    presence: dict[str, int] = Field(description="presence -> number of classrooms")
    last_seen: str | None
    active_alerts: int


class HealthSample(Out):
    received: str | None
    ts: str | None = Field(description="the agent's clock")
    session: int
    seq: int
    status: str | None
    uptime_s: float | None
    outbox_depth: int | None
    outbox_dropped: int | None
    replayed: bool
    devices: dict[str, Any] | None = Field(description="device -> status; null when the same as the sample before")


class EventOut(Out):
    site: str
    room: str
    device: str
    name: str
    msg_id: str
    received: str | None
    ts: str | None
    replayed: bool
    payload: dict[str, Any]


class AckOut(Out):
    by: str
    at: str | None
    note: str | None


class AlertOut(Out):
    id: int
    key: str = Field(description="one condition of one classroom or device; a recurrence is a new alert")
    source: Literal["agent", "central"]
    site: str
    room: str
    device: str | None
    code: str = Field(description="agent codes, or classroom_offline, device_offline, health_gap, outbox_growing")
    severity: Literal["info", "warning", "critical"]
    message: dict[str, Any] = Field(description='{"kk", "ru", "en"}')
    raised: str | None
    cleared: str | None
    active: bool
    ack: AckOut | None


class AlertStep(Out):
    at: str | None
    what: Literal["raised", "acked", "cleared"]
    detail: str | None


class AckIn(Out):
    by: str = Field("api", max_length=200)
    note: str | None = Field(None, max_length=2000)


class InventoryItemOut(Out):
    site: str
    room: str
    id: str
    kind: str | None
    name: str | None
    vendor: str | None
    model: str | None
    serial: str | None
    status: str | None
    availability: Presence
    first_seen: str | None
    last_seen: str | None
    gone: bool = Field(description="no longer in the classroom's inventory")


class InventoryChange(Out):
    site: str
    room: str
    device: str
    at: str | None
    what: Literal["added", "gone", "back", "changed", "moved"]
    detail: dict[str, Any] | None = Field(description='changed: {field: [old, new]}; moved: {"from": '
                                                      '"site/room/device"}')


class UsageDay(Out):
    day: str
    active_min: float
    lesson_active_min: float


class UsageDevice(Out):
    site: str
    room: str
    device: str
    active_min: float
    lesson_active_min: float
    days_used: int
    days: list[UsageDay]


class UsageOut(Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    devices: list[UsageDevice]


class AvailabilityOut(Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(alias="from")
    to: str | None
    seconds: dict[str, float] = Field(description="state -> seconds in that state within the window")


class HealthzOut(Out):
    status: Literal["ok", "degraded"]
    broker: Literal["connected", "disconnected"] | None = None
    counts: dict[str, int] | None = None
    last_commit: str | None = None


class ErrorBody(Out):
    code: str
    message: str


class ErrorOut(Out):
    error: ErrorBody
