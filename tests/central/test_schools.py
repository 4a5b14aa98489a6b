"""The school registry: CSV parsing with line numbers, and `classroomd central schools import`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from classroomd.central import schools
from classroomd.central.db import open_database
from classroomd.central.schools import School, SchoolsError, parse_csv
from classroomd.daemon.cli import main

GOOD = """site,district,name
kz-kyzylorda-095,Сырдария ауданы,"№95 мектеп-гимназия, Тереңөзек"
kz-kyzylorda-096,Сырдария ауданы,№96 мектеп

kz-aral-001,Арал ауданы,
"""


def test_a_csv_with_header_quotes_and_blank_lines() -> None:
    rows = parse_csv("\ufeff" + GOOD)
    assert rows == [School("kz-kyzylorda-095", "Сырдария ауданы", "№95 мектеп-гимназия, Тереңөзек"),
                    School("kz-kyzylorda-096", "Сырдария ауданы", "№96 мектеп"),
                    School("kz-aral-001", "Арал ауданы", "kz-aral-001")]  # no name: the site id stands in


def test_every_malformed_line_is_reported_with_its_number() -> None:
    text = ("kz-1,Арал ауданы,№1 мектеп\n"
            "kz-2;Арал ауданы;№2 мектеп\n"      # semicolons: one field
            "kz-3,Арал ауданы,№3,extra\n"
            ",Арал ауданы,no site\n"
            "kz-1,Арал ауданы,again\n")
    with pytest.raises(SchoolsError) as caught:
        parse_csv(text)
    lines = str(caught.value).splitlines()
    assert [line.split(":")[0] for line in lines] == ["line 2", "line 3", "line 4", "line 5"]
    assert "got 1" in lines[0] and "got 4" in lines[1] and "site id" in lines[2] and "twice" in lines[3]


async def test_save_replaces_and_keeps_the_others(tmp_path: Path) -> None:
    engine = await open_database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        await schools.ensure_tables(engine)
        await schools.save(engine, parse_csv(GOOD))
        await schools.save(engine, [School("kz-aral-001", "Арал ауданы", "Арал №1")])
        found = await schools.registry(engine)
        assert found["kz-aral-001"].name == "Арал №1" and len(found) == 3
        await schools.remove(engine, "kz-kyzylorda-096")
        assert sorted(await schools.registry(engine)) == ["kz-aral-001", "kz-kyzylorda-095"]
    finally:
        await engine.dispose()


def test_the_import_command_saves_a_file_and_refuses_a_bad_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "schools.csv", tmp_path / "bad.csv"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text("kz-9,Арал ауданы,№9\nkz-10,Арал ауданы\n", encoding="utf-8")
    state = tmp_path / "state"
    assert main(["central", "schools", "import", str(good), "--state-dir", str(state)]) == 0
    assert "3 schools in 2 districts" in capsys.readouterr().out
    assert main(["central", "schools", "import", str(bad), "--state-dir", str(state)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "line 2: expected 3 fields" in err

    async def read() -> dict[str, School]:
        engine = await open_database(f"sqlite:///{state / 'central.sqlite3'}")
        try:
            return await schools.registry(engine)
        finally:
            await engine.dispose()

    assert sorted(asyncio.run(read())) == ["kz-aral-001", "kz-kyzylorda-095", "kz-kyzylorda-096"]
