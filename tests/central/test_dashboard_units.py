"""The dashboard's pure parts: catalog, durations, password hashes, the SVG timeline, page size."""

from __future__ import annotations

import time

from classroomd.central import accounts, i18n
from classroomd.central.dashboard import render
from classroomd.central.fleet_view import Cell, Counts
from classroomd.central.room_page import timeline


def test_every_language_has_every_key() -> None:
    keys = set(i18n.CATALOG["en"])
    assert all(set(words) == keys for words in i18n.CATALOG.values())
    assert all(v.strip() for words in i18n.CATALOG.values() for v in words.values())


def test_durations_use_two_units_in_the_readers_language() -> None:
    assert i18n.duration("en", 3 * 3600 + 5 * 60 + 7) == "3 h 5 min"
    assert i18n.duration("ru", 2 * 86400 + 3600) == "2 д 1 ч"
    assert i18n.duration("kk", 42) == "42 с"
    assert i18n.duration("kk", 0) == "0 с"
    assert i18n.pick("de") == "kk"


def test_password_hashes_are_salted_and_checked() -> None:
    first, second = accounts.hash_password("mektep-2026"), accounts.hash_password("mektep-2026")
    assert first != second and first.startswith("scrypt$")
    assert accounts.check_password("mektep-2026", first)
    assert not accounts.check_password("mektep-2027", first)
    assert not accounts.check_password("mektep-2026", "garbage")


def test_timeline_counts_only_known_time() -> None:
    spans = [("online", 100.0, 175.0), ("offline", 175.0, 200.0)]
    svg, uptime = timeline("en", spans, 0.0, 200.0)
    assert uptime == 75.0
    assert svg.count("<rect") == 3 and "<title>offline</title>" in svg


def test_fleet_page_of_2000_classrooms_stays_under_300_kb() -> None:
    now = time.time()
    rooms = [Cell(f"school-{i // 4:04d}", f"room-{i % 4 + 1}", "offline" if i % 17 == 0 else "online", now - 4000)
             for i in range(2000)]
    page = render("kk", rooms, Counts(2000, 1880, 12, 118), "", "", now)
    assert len(page.encode()) < 300 * 1024
    assert page.count('class=offline') == len([r for r in rooms if r.presence == "offline"])
    only = render("en", rooms, Counts(2000, 1880, 12, 118), "offline", "school-000", now)
    assert only.count("class=offline") == 3 and "class=online" not in only
