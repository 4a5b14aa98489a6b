"""The school registry: which district a site belongs to and the name people know it by.

Agents only know their site id (`kz-kyzylorda-095`); the district's engineer keeps this table,
by hand in the admin page or from a CSV (`site,district,name`). A site missing from it is still
shown, under "unassigned". Like the accounts, the table belongs to the dashboard and is created
when the server (or the import) starts, so the ingest schema and its version stay as they are.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import Column, MetaData, String, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import i18n
from classroomd.central.accounts import metadata as account_metadata

metadata = MetaData()
schools = Table(
    "schools", metadata,
    Column("site", String(128), primary_key=True),
    Column("district", String(200), nullable=False),
    Column("name", String(200), nullable=False),
)
#: the header a CSV may start with (it is optional: a file of plain rows is taken as well)
HEADER = ("site", "district", "name")


@dataclass(frozen=True)
class School:
    site: str
    district: str
    name: str


@dataclass(frozen=True)
class Problem:
    """One thing wrong, as a catalog key, so the admin page says it in the reader's language."""
    code: str
    line: int = 0
    values: tuple[tuple[str, str], ...] = ()

    def say(self, lang: str) -> str:
        return i18n.text(lang, self.code).format(line=self.line, **dict(self.values))


class SchoolsError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.say("en") for p in problems))


def _problem(site: str, district: str, name: str) -> str | None:
    if not site or len(site) > 128:
        return "site"
    if len(district) > 200 or len(name) > 200:
        return "long"
    return None


def check(site: str, district: str, name: str) -> School:
    site, district, name = site.strip(), district.strip(), name.strip()
    problem = _problem(site, district, name)
    if problem:
        raise SchoolsError([Problem(f"err_{problem}")])
    return School(site, district, name or site)


def parse_csv(text: str) -> list[School]:
    """Rows of `site,district,name`; every bad line is reported with its line number, and
    nothing is taken from a file with any bad line (half a district imported is worse)."""
    found: dict[str, School] = {}
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))  # a BOM from a spreadsheet's "CSV UTF-8"
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if line == 1 and tuple(f.strip().lower() for f in fields) == HEADER:
            continue
        if len(fields) != 3:
            problems.append(Problem("csv_fields", line, (("got", str(len(fields))),)))
            continue
        site, district, name = (f.strip() for f in fields)
        problem = _problem(site, district, name)
        if problem:
            problems.append(Problem(f"csv_{problem}", line))
            continue
        if site in found:
            problems.append(Problem("csv_twice", line, (("site", site),)))
        found[site] = School(site, district, name or site)
    if problems:
        raise SchoolsError(problems)
    return list(found.values())


async def ensure_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        # The import runs on a fresh database too, where the server has not made them yet.
        await conn.run_sync(account_metadata.create_all)


async def save(engine: AsyncEngine, rows: list[School]) -> None:
    """Add or replace these schools (others stay)."""
    if not rows:
        return
    async with engine.begin() as conn:
        await conn.execute(delete(schools).where(schools.c.site.in_([r.site for r in rows])))
        await conn.execute(schools.insert(), [{"site": r.site, "district": r.district, "name": r.name}
                                              for r in rows])


async def remove(engine: AsyncEngine, site: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(schools).where(schools.c.site == site))


async def registry(engine: AsyncEngine) -> dict[str, School]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(schools.c.site, schools.c.district, schools.c.name))).all()
    return {site: School(site, district, name) for site, district, name in rows}
