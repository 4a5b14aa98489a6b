"""The database schema, one for SQLite and PostgreSQL.

Times are UNIX seconds (float): comparable and portable across both engines,
with no time-zone handling in SQL. The API turns them into ISO-8601.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

#: Bumped whenever a table changes; `db.open_database` refuses a database it does not know.
SCHEMA_VERSION = 1

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied", Float, nullable=False),
)

classrooms = Table(
    "classrooms", metadata,
    Column("site", String(128), primary_key=True),
    Column("room", String(128), primary_key=True),
    Column("presence", String(16), nullable=False),
    Column("since", Float, nullable=False),
    Column("last_seen", Float),
    Column("session", Integer),
    Column("agent", Text),
    Column("health", Text),
    Column("lesson", Text),
    Column("first_seen", Float, nullable=False),
    #: device -> [session, active_min, lesson, lesson_active_min] of the newest report: usage deltas start here
    Column("usage_counters", Text),
)

devices = Table(
    "devices", metadata,
    Column("site", String(128), primary_key=True),
    Column("room", String(128), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("kind", String(32)),
    Column("name", String(200)),
    Column("vendor", String(200)),
    Column("model", String(200)),
    Column("serial", String(200)),
    Column("status", String(32)),
    Column("availability", String(16)),
    Column("since", Float),
    Column("state", Text),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    #: no longer in the classroom's inventory (kept: the inventory has a history)
    Column("gone", Boolean, nullable=False, default=False),
    #: when its usage counters last went up
    Column("last_used", Float),
)

#: The inventory's history: added, gone, back, changed (identity fields), moved.
inventory_log = Table(
    "inventory_log", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("site", String(128), nullable=False),
    Column("room", String(128), nullable=False),
    Column("device", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("what", String(16), nullable=False),
    Column("detail", Text),
    Index("ix_inventory_log_room", "site", "room", "at"),
)

#: Presence as intervals: uptime over a window is one query. `device` is "" for the classroom.
intervals = Table(
    "intervals", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("site", String(128), nullable=False),
    Column("room", String(128), nullable=False),
    Column("device", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("start", Float, nullable=False),
    Column("end", Float),
    Index("ix_intervals_subject", "site", "room", "device", "start"),
)

events = Table(
    "events", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("site", String(128), nullable=False),
    Column("room", String(128), nullable=False),
    Column("device", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("msg_id", String(300), nullable=False),
    Column("session", Integer),
    Column("seq", Integer),
    Column("ts", String(40)),
    Column("received", Float, nullable=False),
    Column("replayed", Boolean, nullable=False),
    Column("payload", Text, nullable=False),
    # QoS 1 redeliveries and a second ingester make the same msg_id twice: one row.
    UniqueConstraint("site", "room", "msg_id", name="uq_events_msg"),
    Index("ix_events_received", "received"),
)

#: Health samples, not every report: one when something a reader cares about changed (status,
#: device statuses, outbox backlog) and a heartbeat every `health_sample_s`; the newest report
#: in full is in `classrooms.health`. A report every 30 s stored whole would be ~2.4 MB a day.
health = Table(
    "health", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("site", String(128), nullable=False),
    Column("room", String(128), nullable=False),
    Column("session", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("ts", String(40)),
    Column("received", Float, nullable=False),
    Column("status", String(16)),
    Column("uptime_s", Float),
    Column("outbox_depth", Integer),
    Column("outbox_dropped", Integer),
    Column("replayed", Boolean, nullable=False),
    #: device id -> status, only when it differs from the previous sample's
    Column("devices", Text),
    UniqueConstraint("site", "room", "session", "seq", name="uq_health_seq"),
)

#: One row per occurrence of an alert; a condition that comes back is a new row.
alerts = Table(
    "alerts", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False),
    Column("source", String(16), nullable=False),
    Column("site", String(128), nullable=False),
    Column("room", String(128), nullable=False),
    Column("device", String(64), nullable=False),
    Column("code", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("raised", Float, nullable=False),
    Column("cleared", Float),
    Column("acked_by", String(200)),
    Column("acked_at", Float),
    Column("ack_note", Text),
    Index("ix_alerts_key", "key", "cleared"),
)

#: What happened to each alert (raised, cleared, acknowledged), for its history.
alert_log = Table(
    "alert_log", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("alert", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("what", String(16), nullable=False),
    Column("detail", Text),
    Index("ix_alert_log_alert", "alert"),
)

#: Active minutes per device and UTC day, summed from the deltas of health `usage` counters.
usage_daily = Table(
    "usage_daily", metadata,
    Column("site", String(128), primary_key=True),
    Column("room", String(128), primary_key=True),
    Column("device", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("active_min", Float, nullable=False),
    Column("lesson_active_min", Float, nullable=False),
)

#: Active minutes per device and lesson.
usage_lessons = Table(
    "usage_lessons", metadata,
    Column("site", String(128), primary_key=True),
    Column("room", String(128), primary_key=True),
    Column("device", String(64), primary_key=True),
    Column("lesson", String(64), primary_key=True),
    Column("active_min", Float, nullable=False),
)

#: One row per lesson a classroom held (from the retained `B/lesson`, which comes again after every
#: reconnect: unique on its id), so lessons per week is a count. Added without a version bump:
#: `create_all` adds a missing table to an older database, and nothing else changed.
lessons = Table(
    "lessons", metadata,
    Column("site", String(128), primary_key=True),
    Column("room", String(128), primary_key=True),
    Column("lesson", String(64), primary_key=True),
    Column("started", Float, nullable=False),
    Column("subject", String(200)),
    Index("ix_lessons_started", "site", "started"),
)
