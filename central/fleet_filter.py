"""The fleet page's filters and order: districts, then schools, then rooms.

Pure functions over the rows already read, so the page costs one read of the fleet however it
is filtered, and the arrangement is tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from classroomd.central.fleet_view import STATES, Cell
from classroomd.central.schools import School

#: the district filter's value for sites missing from the registry
UNASSIGNED = "-"
SORTS = ("name", "state", "last_seen")
#: worst first: a dark school is news, a healthy one is not
RANK = {"offline": 0, "stale": 1, "unknown": 2, "online": 3}


@dataclass(frozen=True)
class Filters:
    state: str = ""
    district: str = ""
    site: str = ""
    kind: str = ""
    search: str = ""
    sort: str = "name"

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        state = query.get("state", "")
        sort = query.get("sort", "name")
        return cls(state=state if state in STATES else "", district=query.get("district", "")[:200],
                   site=query.get("site", "")[:128], kind=query.get("kind", "")[:32],
                   search=query.get("q", "").strip().casefold()[:100], sort=sort if sort in SORTS else "name")

    def query(self) -> dict[str, str]:
        """The non-default values, for links that keep the reader's filters."""
        values = {"state": self.state, "district": self.district, "site": self.site, "kind": self.kind,
                  "q": self.search, "sort": "" if self.sort == "name" else self.sort}
        return {k: v for k, v in values.items() if v}


@dataclass
class SchoolGroup:
    site: str
    name: str
    rooms: list[Cell] = field(default_factory=list)
    last_seen: float = 0.0

    def worst(self) -> tuple[int, ...]:
        return tuple(-sum(1 for r in self.rooms if r.presence == s) for s in ("offline", "stale", "unknown"))


@dataclass
class DistrictGroup:
    #: "" for the sites missing from the registry
    name: str
    schools: list[SchoolGroup] = field(default_factory=list)

    @property
    def rooms(self) -> int:
        return sum(len(s.rooms) for s in self.schools)

    @property
    def online(self) -> int:
        return sum(1 for s in self.schools for r in s.rooms if r.presence == "online")


def _keep(cell: Cell, school: School | None, with_kind: set[str] | None, f: Filters) -> bool:
    if f.state and cell.presence != f.state:
        return False
    if f.site and cell.site != f.site:
        return False
    if f.district and (school.district if school and school.district else UNASSIGNED) != f.district:
        return False
    if f.kind and (with_kind is None or cell.key not in with_kind):
        return False
    if f.search:
        name = school.name if school else ""
        if f.search not in cell.site.casefold() and f.search not in name.casefold():
            return False
    return True


def arrange(cells: list[Cell], registry: Mapping[str, School], f: Filters,
            seen: Mapping[str, float | None] | None = None, with_kind: set[str] | None = None) -> list[DistrictGroup]:
    """`seen` (room key -> last seen) is needed to order by it, `with_kind` (the rooms that have
    a device of `f.kind`) to filter by kind."""
    seen = seen or {}
    districts: dict[str, DistrictGroup] = {}
    groups: dict[str, SchoolGroup] = {}
    for cell in cells:
        school = registry.get(cell.site)
        if not _keep(cell, school, with_kind, f):
            continue
        group = groups.get(cell.site)
        if group is None:
            group = groups[cell.site] = SchoolGroup(cell.site, school.name if school else cell.site)
            name = school.district if school else ""
            districts.setdefault(name, DistrictGroup(name)).schools.append(group)
        group.rooms.append(cell)
        group.last_seen = max(group.last_seen, seen.get(cell.key) or 0.0)
    for district in districts.values():
        district.schools.sort(key=lambda s: s.name.casefold())  # the tie-break of every order
        if f.sort == "state":
            district.schools.sort(key=SchoolGroup.worst)
            for s in district.schools:
                s.rooms.sort(key=lambda r: RANK.get(r.presence, 2))
        elif f.sort == "last_seen":
            # The longest silent first: that is the school somebody should call.
            district.schools.sort(key=lambda s: s.last_seen)
            for s in district.schools:
                s.rooms.sort(key=lambda r: seen.get(r.key) or 0.0)
    # Named districts in order; the unassigned sites last, where an engineer looks for them.
    return sorted(districts.values(), key=lambda d: (d.name == "", d.name.casefold()))

