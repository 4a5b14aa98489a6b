"""The `[central]` section of a classroomd TOML file, the district server's settings: kept with the other
config models so that `classroomd config check` validates it, and read by `central/` (never the reverse).
Defaults run on a fresh machine: SQLite under the state directory, a broker on localhost."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from classroomd.config.broker_urls import URL_OPTIONAL_PORT_RE, check_urls

LISTEN_RE = re.compile(r"^[^\s:]+:\d{1,5}$")


class CentralConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: SQLAlchemy-style URL: sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB; default SQLite in state_dir
    db: str | None = None
    #: one broker URL or a list tried in order
    broker: str | list[str] = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    client_id: str | None = None
    base_topic: str = "classroom"
    #: group of the shared subscription of the event lane; "" for a broker without shared subscriptions
    shared_group: str = "central"
    keepalive_s: int = Field(30, ge=5, le=3600)
    #: how long the broker keeps central's sessions, and queues for them, while central is down (a long
    #: weekend by default); what agents could not deliver meanwhile also waits in their own outboxes
    session_expiry_s: int = Field(4 * 86400, ge=0, le=30 * 86400)
    http: str = "127.0.0.1:8090"
    #: which parts run in this process: ingest and the API, or one of them (for N ingesters + M API processes)
    role: Literal["all", "ingest", "api"] = "all"
    #: what an ingester takes: everything (the state lane, the rules and its share of events), or only its
    #: share of the event lane; run exactly one "all" ingester beside any number of "events" ones
    lanes: Literal["all", "events"] = "all"
    state_dir: Path = Path("/var/lib/classroomd-central")
    #: a classroom offline longer than this raises an alert (the pending period)
    offline_alert_s: float = Field(900, ge=0)
    #: a device offline or faulty longer than this (while its classroom is online) raises an alert
    device_alert_s: float = Field(900, ge=0)
    #: an alert clears once its condition has been false this long (hysteresis)
    clear_after_s: float = Field(60, ge=0)
    #: a gap in health seq keeps its alert this long after the last gap
    gap_hold_s: float = Field(600, ge=0)
    #: outbox depth growing over this many consecutive health reports, and at least outbox_alert_depth
    outbox_growth_reports: int = Field(3, ge=2, le=8)
    outbox_alert_depth: int = Field(100, ge=0)
    #: equipment that measures use (health `usage`) and was not used for this many school days (Mon–Fri)
    unused_school_days: float = Field(10, gt=0)
    rules_interval_s: float = Field(5, gt=0)
    #: a health sample is stored at least this often (and whenever something in it changed)
    health_sample_s: float = Field(300, gt=0)
    #: health samples are thinned to one an hour after this many days …
    retention_raw_days: float = Field(7, gt=0)
    #: … and dropped after this many; events likewise
    retention_health_days: float = Field(365, gt=0)
    retention_events_days: float = Field(365, gt=0)
    retention_interval_s: float = Field(3600, gt=0)
    batch_max: int = Field(1000, ge=1)
    batch_ms: int = Field(100, ge=1)
    queue_max: int = Field(100_000, ge=100)
    #: Mosquitto's password file, ACL and list of classrooms, kept by `classroomd central provision` and
    #: the dashboard's admin page (unset: the page cannot add classrooms)
    provision_dir: Path | None = None
    #: the broker URL as classrooms reach it, written into their config (default: the first `broker`)
    provision_broker: str | None = None

    @field_validator("broker")
    @classmethod
    def _urls(cls, value: str | list[str]) -> str | list[str]:
        return check_urls(value, URL_OPTIONAL_PORT_RE)

    @field_validator("http")
    @classmethod
    def _listen(cls, value: str) -> str:
        if not LISTEN_RE.match(value):
            raise ValueError(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:8090")
        return value

    @property
    def brokers(self) -> list[str]:
        return [self.broker] if isinstance(self.broker, str) else list(self.broker)

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.state_dir / 'central.sqlite3'}"

    @property
    def listen(self) -> tuple[str, int]:
        host, port = self.http.rsplit(":", 1)
        return host, int(port)
