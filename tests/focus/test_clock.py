"""Dates for people: the school's zone, the reader's language, and the config key that names the zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from classroomd.config.schema import AgentConfig
from classroomd.core import clock

ALMATY = clock.zone("Asia/Almaty")


def test_kazakhstan_is_utc_plus_5_since_march_2024() -> None:
    # The tz database must be 2024a or newer; an older one puts Almaty an hour ahead of the clocks on the wall.
    assert clock.time_text("2026-12-02T09:14:14.895Z", ALMATY) == "14:14"
    assert clock.time_text("2024-02-28T09:14:00Z", ALMATY) == "15:14"


@pytest.mark.parametrize(("lang", "expected"), [
    ("kk", "2 желтоқсан 2026, 14:14"), ("ru", "2 декабря 2026, 14:14"), ("en", "2 December 2026, 14:14")])
def test_a_date_reads_as_people_write_it(lang: str, expected: str) -> None:
    assert clock.date_time_text("2026-12-02T09:14:14.895Z", lang, ALMATY) == expected


def test_the_day_changes_at_the_schools_midnight_not_utcs() -> None:
    assert clock.date_text("2026-12-31T19:30:00Z", "ru", ALMATY) == "1 января 2027"
    both = clock.for_everyone("2026-12-31T19:30:00Z", ALMATY, now=datetime(2027, 1, 1, 3, tzinfo=UTC))
    assert both == {"time": "00:30", "date": {"kk": "1 қаңтар 2027", "ru": "1 января 2027", "en": "1 January 2027"},
                    "today": True}


def test_what_is_not_a_timestamp_reads_as_nothing() -> None:
    assert clock.date_time_text("yesterday", "kk", ALMATY) == ""
    assert clock.time_text("2026-12-02T09:14:14", ALMATY) == ""  # naive: not ours to guess


def test_without_a_zone_the_systems_is_used() -> None:
    assert AgentConfig().timezone is None and clock.zone(None) is None
    moment = datetime(2026, 12, 2, 9, 14, tzinfo=UTC)
    assert clock.time_text(moment, None) == moment.astimezone().strftime("%H:%M")


def test_a_mistyped_zone_is_a_config_error() -> None:
    assert AgentConfig(timezone="Asia/Almaty").timezone == "Asia/Almaty"
    with pytest.raises(ValidationError, match="unknown time zone 'Asia/Almati'"):
        AgentConfig(timezone="Asia/Almati")
