"""The small pure parts: topic parsing, the [central] config section, URLs of the engines."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from classroomd.central import topics
from classroomd.central.alerts import AlertBook
from classroomd.central.batch import Batch
from classroomd.central.config import CentralConfig, CentralConfigError, load
from classroomd.central.db import DatabaseError, async_url
from classroomd.central.fleet import Fleet
from classroomd.central.handlers import Handlers
from classroomd.central.rules import evaluate, school_days
from classroomd.daemon.cli import main


@pytest.mark.parametrize(("topic", "expected"), [
    ("classroom/s/r/agent", ("agent", "s", "r", "", "")),
    ("classroom/s/r/agent/health", ("health", "s", "r", "", "")),
    ("classroom/s/r/devices", ("inventory", "s", "r", "", "")),
    ("classroom/s/r/lesson", ("lesson", "s", "r", "", "")),
    ("classroom/s/r/alert/scope-1-lost", ("alert", "s", "r", "scope-1-lost", "")),
    ("classroom/s/r/scope-1", ("device", "s", "r", "scope-1", "")),
    ("classroom/s/r/scope-1/availability", ("availability", "s", "r", "scope-1", "")),
    ("classroom/s/r/scope-1/event/captured", ("event", "s", "r", "scope-1", "captured")),
    ("classroom/мектеп 5/кабинет/agent", ("agent", "мектеп 5", "кабинет", "", "")),
])
def test_contract_topics_are_recognised(topic: str, expected: tuple[str, ...]) -> None:
    stream = topics.parse(topic, "classroom")
    assert stream is not None
    assert (stream.kind, stream.site, stream.room, stream.key, stream.name) == expected


@pytest.mark.parametrize("topic", [
    "classroom/s/r", "other/s/r/agent", "classroom/s/r/Scope", "classroom/s/r/alert", "classroom//r/agent",
    "classroom/s/r/scope-1/event", "classroom/s/r/scope-1/request/x", "classroom/s/r/agent/x/y/z",
    "classroom/" + "x" * 129 + "/r/agent",
])
def test_other_topics_are_not_the_contract(topic: str) -> None:
    assert topics.parse(topic, "classroom") is None


def test_engine_urls() -> None:
    assert async_url("sqlite:////var/lib/c.sqlite3").startswith("sqlite+aiosqlite:////var/lib/")
    assert async_url("postgresql://u:p@h:5432/d") == "postgresql+asyncpg://u:p@h:5432/d"
    with pytest.raises(DatabaseError):
        async_url("mysql://h/d")


def test_central_section_is_checked_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "central.toml"
    path.write_text('site = "kz-1"\nroom = "bio"\n\n[central]\nhttp = "8090"\noffline_alert_s = 600\n')
    with pytest.raises(CentralConfigError, match=r"central\.toml:5: central\.http"):
        load(path)
    path.write_text('[central]\ndb = "postgresql://c@127.0.0.1/central"\noffline_alert_s = 600\n')
    cfg = load(path, {"http": "0.0.0.0:9000", "db": None})
    assert cfg.offline_alert_s == 600 and cfg.listen == ("0.0.0.0", 9000) and cfg.db_url.startswith("postgresql")
    # The agent's own `config check` accepts the section, and finds its mistakes too.
    assert main(["config", "check", str(path)]) == 0
    path.write_text('[central]\nbroker = "http://x"\n')
    assert main(["config", "check", str(path)]) != 0
    assert ":2: central.broker" in capsys.readouterr().err


def test_school_days_count_monday_to_friday() -> None:
    monday = 1_796_601_600.0  # 2026-12-07 00:00 UTC, a Monday
    day = 86400.0
    assert time.gmtime(monday).tm_wday == 0
    assert school_days(monday, monday + 7 * day) == 5
    assert school_days(monday + 4.5 * day, monday + 7.5 * day) == 1.0  # Friday noon → Monday noon
    assert school_days(monday + 5 * day, monday + 7 * day) == 0  # a weekend
    assert school_days(monday, monday + 700 * day) == 500
    assert school_days(monday + day, monday) == 0


def test_equipment_unused_for_school_days_raises_and_use_clears() -> None:
    cfg = CentralConfig(unused_school_days=10, clear_after_s=0)
    fleet, book = Fleet(), AlertBook()
    monday = 1_796_601_600.0
    room = fleet.classroom("s", "r", monday, Batch())
    room.presence = "online"
    tablet = fleet.device(room, "tablet-1", monday)
    tablet.last_used = monday
    evaluate(fleet, book, cfg, monday + 11 * 86400, Batch())  # Friday of the next week: 9 school days
    assert not book.active
    evaluate(fleet, book, cfg, monday + 12 * 86400, Batch())  # its end: 10
    assert [a.code for a in book.active.values()] == ["unused"]
    tablet.last_used = monday + 14 * 86400
    evaluate(fleet, book, cfg, monday + 14 * 86400 + 1, Batch())
    assert not book.active


def test_odd_payloads_on_every_stream_are_counted_not_bugs() -> None:
    handlers = Handlers(Fleet(), AlertBook(), "classroom")
    odd: list[object] = [None, 1, -1, 1.5, True, "x", [], {}, [1, "a", None], {"id": 5}, [{"id": None}],
                         [{"id": "scope-1", "kind": 3, "vendor": [], "serial": {"a": 1}, "availability": 7}],
                         {"state": "online", "session": True}, {"state": "offline", "session": -5},
                         {"seq": 1, "session": 1, "ts": 1, "msg_id": 5, "status": "ok", "uptime_s": 1,
                          "outbox_depth": 1, "devices": {"x": 1}, "usage": {"tablet-1": {"active_min": "a"}}},
                         {"seq": 1, "session": 1, "ts": "t", "msg_id": "m", "status": "ok", "uptime_s": 1,
                          "outbox_depth": -1, "devices": {}, "usage": {"BAD": 3, "t-1": {"active_min": -4}}},
                         {"severity": ["x"], "device": {"a": 1}, "code": None, "message": 5, "replayed": 1},
                         {"msg_id": "", "session": "1", "seq": None}, {"availability": "online", "id": "x"}]
    payloads = [json.dumps(v).encode() for v in odd] + [b"", b"\xff", b"online", b"{" * 1000]
    streams = ["agent", "agent/health", "devices", "lesson", "alert/a-b", "scope-1", "scope-1/availability",
               "scope-1/event/captured"]
    batch = Batch()
    for stream in streams:
        for payload in payloads:
            handlers.handle(f"classroom/s/r/{stream}", payload, 1_800_000_000.0, batch)
    assert handlers.counts["handler_errors"] == 0
    assert handlers.counts["malformed"] > 0


def test_run_explains_a_database_it_cannot_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["central", "run", "--db", "postgresql://c:secret@127.0.0.1:1/central", "--state-dir",
                 str(tmp_path), "--log-level", "ERROR"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot open the database" in err and "secret" not in err
