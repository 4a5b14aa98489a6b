"""Typed shape of the classroomd config file (TOML)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from classroomd.config.broker_urls import as_list, check_urls
from classroomd.config.central_section import CentralConfig
from classroomd.core import clock
from classroomd.core.vocabulary import RESERVED_IDS, Kind

#: A registered device kind in a config file: an unknown name is an error naming the known ones.
KindName = Annotated[Kind, PlainValidator(Kind), PlainSerializer(str, return_type=str),
                     WithJsonSchema({"type": "string", "description": "a registered device kind"})]

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def usb_id(value: int | str | None) -> int | None:
    """A USB vendor or product id as written in TOML: an integer, or hex text such as "2c99"."""
    if value is None or isinstance(value, int):
        return value
    try:
        return int(value, 16)
    except ValueError:
        raise ValueError(f"{value!r} is not a hexadecimal USB id such as \"2c99\"") from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrokerConnection(Strict):
    """How to reach a broker: the keys `[mqtt]` and `[uplink]` share."""

    #: One URL or a list tried in order (fail-over).
    url: str | list[str] = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False
    client_id: str | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(60.0, gt=0)
    #: The first connect after start waits a random 0…this many seconds (0: at once).
    first_connect_jitter_s: float = Field(0.0, ge=0, le=600)

    @field_validator("url")
    @classmethod
    def _urls(cls, value: str | list[str]) -> str | list[str]:
        return check_urls(value)

    @property
    def urls(self) -> list[str]:
        return as_list(self.url)


class MqttConfig(BrokerConnection):
    base_topic: str = "classroom"

    @field_validator("base_topic")
    @classmethod
    def _base(cls, value: str) -> str:
        if not value or any(c in value for c in "#+") or value.startswith("/"):
            raise ValueError("base_topic must be a non-empty topic without wildcards")
        return value.rstrip("/")


class AgentConfig(Strict):
    state_dir: Path = Path("/var/lib/classroomd")
    health_interval_s: float = Field(30.0, gt=0)
    language: Literal["kk", "ru", "en"] = "kk"
    log_format: Literal["text", "json"] = "text"
    #: Find USB/serial/video/input devices with udev and follow hot-plug.
    discovery: bool = True
    #: Browse the LAN for network printers and announce this agent (`_classroomd._tcp`).
    mdns: bool = True
    #: A device that is lost (unplugged, stopped answering) or fails to open is tried again after
    #: `reopen_min_s`, then twice as long each time up to `reopen_max_s`: one policy for every kind.
    reopen_min_s: float = Field(2.0, gt=0)
    reopen_max_s: float = Field(30.0, gt=0)
    #: The school's time zone for the times people read (IANA, e.g. Asia/Almaty); the wire stays UTC.
    #: Unset: the system's own zone.
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        clock.zone(value)  # a typo would silently show UTC-looking times; refuse it with the key's line
        return value


class OutboxConfig(Strict):
    max_messages: int = Field(50_000, ge=100)
    #: Messages per second once the link is back; 0 means unlimited.
    drain_rate_per_s: float = Field(200.0, ge=0)
    #: Random delay before draining after a reconnect, so a district's schools spread out.
    reconnect_jitter_s: float = Field(2.0, ge=0)
    inflight: int = Field(64, ge=1, le=1000)


#: Events the district reads (print outcomes, device faults); the rest stay in the classroom.
UPLINK_EVENTS = ("job_started", "job_finished", "job_failed", "job_cancelled", "printer_error",
                 "timelapse_finished")


class UplinkConfig(BrokerConnection):
    """`[uplink]`: a second connection, to the district's broker, carrying only what the district reads."""

    url: str | list[str]
    keepalive_s: int = Field(120, ge=5, le=3600)
    reconnect_min_s: float = Field(2.0, gt=0)
    reconnect_max_s: float = Field(300.0, gt=0)
    #: A district's schools boot together; their first connects spread over this many seconds.
    first_connect_jitter_s: float = Field(20.0, ge=0, le=600)
    #: Compact health to the district this often; 60 s is about 0.6 MB a day.
    health_interval_s: float = Field(60.0, gt=0)
    #: Event names forwarded (any device); alerts always are.
    events: list[str] = list(UPLINK_EVENTS)
    #: A week without the district at one health a minute is about 10,000 messages.
    max_messages: int = Field(50_000, ge=100)
    #: Messages per second once the district is back; a week's backlog then takes about an hour.
    drain_rate_per_s: float = Field(5.0, ge=0)
    reconnect_jitter_s: float = Field(30.0, ge=0)
    inflight: int = Field(16, ge=1, le=1000)


class HttpConfig(Strict):
    listen: str = "127.0.0.1:8080"
    #: The base URL others should use (the classroom PC's LAN address), when not the listen one.
    public_url: str | None = None
    #: The classroom PIN for the teacher's remote; anyone on the LAN can open the page, not act on it.
    pin: str | None = Field(None, pattern=r"^[0-9]{4,8}$")
    #: Opens `/engineer` besides the daemon's token (which lives in state_dir/token).
    engineer_password: str | None = Field(None, min_length=8)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"{value!r} is not HOST:PORT")
        return value


class MatchConfig(Strict):
    vid: int | str | None = None
    pid: int | str | None = None
    serial: str | None = None
    name: str | None = None

    @field_validator("vid", "pid")
    @classmethod
    def _hex(cls, value: int | str | None) -> int | None:
        return usb_id(value)


class DeviceConfig(BaseModel):
    """One `[[devices]]` entry. Kind-specific keys are checked by the kind's own Options model."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: KindName
    name: str | None = None
    port: str | None = None
    baud: int | None = Field(None, gt=0)
    host: str | None = None
    tcp_port: int | None = Field(None, gt=0, lt=65536)
    profile: str | None = None
    source: str | None = None
    match: MatchConfig | None = None
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not ID_RE.match(value):
            raise ValueError("device ids are lowercase letters, digits and '-' (e.g. \"printer-1\")")
        if value in RESERVED_IDS:
            raise ValueError(f"{value!r} is reserved for the agent's own topics")
        return value

    @property
    def extras(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


LINKED_ROOM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64}$")


class LinkedConfig(Strict):
    """`[linked]`: the classrooms a lesson here is linked with by default (docs/linked.md)."""

    #: `{site}/{room}` linked when `lesson_start` names none (an explicit `"linked": []` links none)
    rooms: list[str] = Field(default_factory=list, max_length=8)
    #: "ask": the teacher accepts a linked room's offer on her remote; "always": it is shown at once
    accept_offers: Literal["ask", "always"] = "ask"

    @field_validator("rooms")
    @classmethod
    def _rooms(cls, value: list[str]) -> list[str]:
        for room in value:
            if not LINKED_ROOM_RE.match(room):
                raise ValueError(f"{room!r} is not a classroom written as \"{{site}}/{{room}}\" "
                                 "(e.g. \"kz-magnet/bio-7\")")
        return list(dict.fromkeys(value))


class Config(Strict):
    site: str = "demo-school"
    room: str = "demo-room"
    mqtt: MqttConfig = MqttConfig()
    agent: AgentConfig = AgentConfig()
    outbox: OutboxConfig = OutboxConfig()
    #: the district's broker; without it nothing leaves the classroom's own broker
    uplink: UplinkConfig | None = None
    http: HttpConfig = HttpConfig()
    devices: list[DeviceConfig] = []
    #: linked lessons: default rooms and how offers from them are accepted
    linked: LinkedConfig = LinkedConfig()
    #: the district server's section (`classroomd central run`); the agent ignores it
    central: CentralConfig | None = None

    @field_validator("site", "room")
    @classmethod
    def _segment(cls, value: str) -> str:
        if not value or any(c in value for c in "/#+"):
            raise ValueError("must be a non-empty topic segment without '/', '#' or '+'")
        return value

    @field_validator("linked")
    @classmethod
    def _not_linked_with_itself(cls, value: LinkedConfig, info: ValidationInfo) -> LinkedConfig:
        me = f"{info.data.get('site')}/{info.data.get('room')}"
        for index, room in enumerate(value.rooms):
            if room == me:
                # Raised as the nested model's error, so the message names `linked.rooms[i]` and its line.
                raise ValidationError.from_exception_data("LinkedConfig", [{
                    "type": "value_error", "loc": ("rooms", index), "input": room,
                    "ctx": {"error": ValueError(f"{room!r} is this classroom itself (site/room)")}}])
        return value
