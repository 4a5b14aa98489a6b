"""The dashboard's pure parts: catalog, durations, password hashes, the SVG timeline, page size."""

from __future__ import annotations

import time

from classroomd.central import accounts, i18n
from classroomd.central.dashboard import render
from classroomd.central.fleet_filter import UNASSIGNED, Filters, arrange
from classroomd.central.fleet_view import Cell, Counts
from classroomd.central.room_page import timeline
from classroomd.central.schools import School


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


def _fleet(n: int = 2000) -> tuple[list[Cell], dict[str, School], set[str]]:
    now = time.time()
    rooms = [Cell(f"kz-kyzylorda-{i // 4:04d}", f"room-{i % 4 + 1}", "offline" if i % 17 == 0 else "online",
                  now - 4000) for i in range(n)]
    # Three of every four schools are registered, in ten districts; the rest are unassigned.
    registry = {f"kz-kyzylorda-{s:04d}": School(f"kz-kyzylorda-{s:04d}", f"Ауданы {s % 10}",
                                                 f"№{s} жалпы білім беретін мектеп-гимназиясы")
                for s in range(n // 4) if s % 4}
    with_scope = {r.key for i, r in enumerate(rooms) if i % 3}  # the rooms with a microscope
    return rooms, registry, with_scope


def test_fleet_page_of_2000_classrooms_stays_under_300_kb() -> None:
    now = time.time()
    rooms, registry, _ = _fleet()
    groups = arrange(rooms, registry, Filters())
    page = render("kk", groups, Counts(2000, 1880, 12, 118), Filters(), now)
    assert len(page.encode()) < 300 * 1024, len(page.encode())
    assert page.count("class=offline") == len([r for r in rooms if r.presence == "offline"])
    only = Filters(state="offline", search="kz-kyzylorda-000")
    shown = render("en", arrange(rooms, registry, only), Counts(2000, 1880, 12, 118), only, now)
    assert shown.count("class=offline") == 3 and "class=online" not in shown


def test_fleet_is_grouped_by_district_with_unassigned_sites_last() -> None:
    rooms, registry, _ = _fleet(40)
    groups = arrange(rooms, registry, Filters())
    assert [g.name for g in groups] == ["Ауданы 1", "Ауданы 2", "Ауданы 3", "Ауданы 5", "Ауданы 6",
                                        "Ауданы 7", "Ауданы 9", ""]
    assert sum(g.rooms for g in groups) == 40
    assert [s.site for s in groups[-1].schools] == ["kz-kyzylorda-0000", "kz-kyzylorda-0004", "kz-kyzylorda-0008"]
    assert groups[0].schools[0].name == "№1 жалпы білім беретін мектеп-гимназиясы"


def test_fleet_filters_by_district_school_kind_state_and_name() -> None:
    rooms, registry, with_scope = _fleet(40)

    def keys(f: Filters) -> list[str]:
        found = arrange(rooms, registry, f, with_kind=with_scope if f.kind == "microscope" else set())
        return [r.key for g in found for s in g.schools for r in s.rooms]

    assert len(keys(Filters(district="Ауданы 1"))) == 4
    assert len(keys(Filters(district=UNASSIGNED))) == 12
    assert keys(Filters(site="kz-kyzylorda-0002")) == [f"kz-kyzylorda-0002/room-{i}" for i in range(1, 5)]
    assert all(i % 3 for i, r in enumerate(rooms) if r.key in keys(Filters(kind="microscope")))
    assert len(keys(Filters(kind="microscope"))) == len([i for i in range(40) if i % 3])
    assert keys(Filters(kind="globe")) == []
    assert set(keys(Filters(state="offline"))) == {r.key for r in rooms if r.presence == "offline"}
    assert len(keys(Filters(search="№3 ЖАЛПЫ".casefold()))) == 4  # the registry's name, any case
    assert Filters.from_query({"state": "bad", "sort": "bad", "q": "  Мектеп "}) == Filters(search="мектеп")


def test_fleet_sorts_worst_first_and_longest_silent_first() -> None:
    now = time.time()
    rooms = [Cell("a", "1", "online", now), Cell("b", "1", "offline", now), Cell("b", "2", "online", now),
             Cell("c", "1", "stale", now), Cell("c", "2", "offline", now)]
    seen: dict[str, float | None] = {"a/1": now - 10, "b/1": now - 900, "b/2": now, "c/1": None, "c/2": now - 50}
    by_state = arrange(rooms, {}, Filters(sort="state"))[0].schools
    assert [s.site for s in by_state] == ["c", "b", "a"]  # as many offline, and c has a stale one too
    assert [r.presence for r in next(s for s in by_state if s.site == "c").rooms] == ["offline", "stale"]
    by_seen = arrange(rooms, {}, Filters(sort="last_seen"), seen)[0].schools
    assert [s.site for s in by_seen] == ["c", "a", "b"]  # each school's newest report, oldest first
    assert [r.room for r in by_seen[0].rooms] == ["1", "2"]  # within c: never seen first
    assert [s.site for s in arrange(rooms, {}, Filters())[0].schools] == ["a", "b", "c"]
