"""The device catalog: data-driven rules that say what a plugged-in device is, and why.

Rules come from `config/catalog.toml` (shipped in the package); `[[devices]]` entries of the user's
config that carry a `match` table or a `port`/`source` bind a device to that entry and beat every
catalog rule. When several rules match, the most specific wins.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from classroomd.config.schema import Config, DeviceConfig, usb_id
from classroomd.core.vocabulary import Kind
from classroomd.devices.kinds import specs

#: How much each matched key adds to a rule's specificity: a serial number pins one unit, a name
#: pins a model sharing ids with others (Huion/Gaomon), a pid pins a product, a vid only a vendor.
WEIGHTS = {"serial": 16, "name": 8, "pid": 4, "vid": 2, "subsystem": 1, "bus": 0}
#: Besides every registered kind, "touch": a touch surface whose kind its contact count decides.
TOUCH = "touch"


class CatalogError(ValueError):
    """The catalog file is not valid; the message names the rule and key."""


@dataclass(frozen=True)
class Facts:
    """What one physical device tells about itself, for matching."""

    bus: str | None = None
    subsystems: frozenset[str] = frozenset()
    vid: int | None = None
    pid: int | None = None
    names: tuple[str, ...] = ()
    serial: str | None = None
    paths: tuple[str, ...] = ()


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    bus: str | None = None
    subsystem: str | None = None
    vid: int | None = None
    pid: int | None = None
    name: str | None = None
    serial: str | None = None
    kind: str | None = None
    vendor: str = ""
    model: str = ""
    transport: str = ""
    bridge: bool = False
    probe: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("vid", "pid", mode="before")
    @classmethod
    def _hex(cls, value: int | str | None) -> int | None:
        return usb_id(value)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        known = {*(str(k) for k in Kind.all()), TOUCH}
        if value is not None and value not in known:
            raise ValueError(f"unknown kind {value!r}; expected one of {', '.join(sorted(known))}")
        return value

    @field_validator("probe")
    @classmethod
    def _probe(cls, value: str | None) -> str | None:
        if value is not None and value != "m115":
            raise ValueError("the only probe is \"m115\"")
        return value


class ClassifyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    touch_table_min_contacts: int = Field(11, ge=2)


class CatalogModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    classify: ClassifyModel = ClassifyModel()
    rule: list[RuleModel] = Field(default_factory=list)


class Rule(RuleModel):
    """One catalog rule (or a config entry seen as a rule): the file's keys, plus where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Where the rule comes from: "catalog" or "config".
    source: str = "catalog"
    #: A config rule's entry; its port/source also bind.
    entry: DeviceConfig | None = None

    @property
    def specificity(self) -> int:
        return sum(w for k, w in WEIGHTS.items() if getattr(self, k) is not None)

    def match(self, facts: Facts) -> list[str] | None:
        """The keys that matched, spelled for a reader, or None when the rule does not apply."""
        why: list[str] = []
        if self.bus is not None:
            if facts.bus != self.bus:
                return None
            why.append(self.bus)
        if self.subsystem is not None:
            if self.subsystem not in facts.subsystems:
                return None
            why.append(f"subsystem {self.subsystem}")
        if self.vid is not None:
            if facts.vid != self.vid:
                return None
            why.append(f"vid {self.vid:04x}")
        if self.pid is not None:
            if facts.pid != self.pid:
                return None
            why.append(f"pid {self.pid:04x}")
        if self.name is not None:
            hit = next((n for n in facts.names if fnmatch.fnmatch(n.lower(), self.name.lower())), None)
            if hit is None:
                return None
            why.append(f"name {self.name!r} ~ {hit!r}")
        if self.serial is not None:
            if facts.serial is None or not fnmatch.fnmatch(facts.serial.lower(), self.serial.lower()):
                return None
            why.append(f"serial {facts.serial!r}")
        return why


@dataclass(frozen=True)
class Match:
    rule: Rule
    matched: tuple[str, ...]
    #: A config entry bound through its `port`/`source` rather than `match`.
    via_path: str | None = None

    def explain(self) -> str:
        keys = ", ".join(self.matched)
        if self.rule.source == "config":
            how = f"port {self.via_path}" if self.via_path else keys
            return f"config entry {self.rule.id!r} ({how})"
        return f"catalog rule {self.rule.id!r} ({keys})"


def _rule(model: RuleModel) -> Rule:
    return Rule(**model.model_dump())


def config_rules(config: Config | None) -> list[Rule]:
    """`[[devices]]` entries that can bind a discovered device: those with `match`, `port` or `source`."""
    rules: list[Rule] = []
    for entry in config.devices if config is not None else []:
        if not entry.enabled:
            continue
        m = entry.match
        if m is None and not entry.port and not entry.source:
            continue
        rules.append(Rule(
            id=entry.id, kind=str(entry.kind), source="config", entry=entry,
            vid=usb_id(m.vid) if m else None, pid=usb_id(m.pid) if m else None,
            serial=m.serial if m else None, name=m.name if m else None,
        ))
    return rules


def _path_bound(rule: Rule, facts: Facts) -> str | None:
    entry = rule.entry
    if entry is None:
        return None
    for declared in (entry.port, entry.source):
        if not declared:
            continue
        real = str(Path(declared).resolve()) if declared.startswith("/") else declared
        if declared in facts.paths or real in facts.paths:
            return declared
    return None


class Catalog:
    def __init__(self, rules: list[Rule], touch_table_min_contacts: int = 10, source: str = "") -> None:
        self.rules = rules
        self.touch_table_min_contacts = touch_table_min_contacts
        self.source = source

    @classmethod
    def from_text(cls, text: str, source: str = "catalog.toml") -> Catalog:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{source}: {exc}") from exc
        try:
            model = CatalogModel.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc = list(err["loc"])
                if len(loc) >= 2 and loc[0] == "rule" and isinstance(loc[1], int):
                    rule_id = data.get("rule", [])[loc[1]].get("id", f"#{loc[1] + 1}")
                    loc = [f"rule {rule_id!r}", *loc[2:]]
                problems.append(f"{source}: {'.'.join(str(p) for p in loc)}: {err['msg']}")
            raise CatalogError("\n".join(problems)) from exc
        ids = [r.id for r in model.rule]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise CatalogError(f"{source}: rule ids used twice: {', '.join(dupes)}")
        return cls([_rule(r) for r in model.rule], model.classify.touch_table_min_contacts, source)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Catalog:
        """The catalog at `path`, or the one shipped in the package."""
        if path is not None:
            return cls.from_text(Path(path).read_text(encoding="utf-8"), str(path))
        text = resources.files("classroomd.config").joinpath("catalog.toml").read_text(encoding="utf-8")
        catalog = cls.from_text(text, "classroomd/config/catalog.toml")
        # Kinds registered by their own modules bring their own rules.
        for spec in specs():
            for raw in spec.catalog_rules:
                try:
                    catalog.rules.append(_rule(RuleModel.model_validate(dict(raw))))
                except ValidationError as exc:
                    raise CatalogError(f"catalog rule {raw.get('id', '?')!r} of kind {spec.kind}: {exc}") from exc
        return catalog

    def match(self, facts: Facts, config: Config | None = None) -> Match | None:
        """The best rule for these facts: a config entry first, then the most specific catalog rule."""
        for rule in config_rules(config):
            bound = _path_bound(rule, facts)
            if bound is not None:
                return Match(rule, (), via_path=bound)
            if rule.vid is None and rule.pid is None and rule.serial is None and rule.name is None:
                continue
            why = rule.match(facts)
            if why is not None:
                return Match(rule, tuple(why))
        best: Match | None = None
        for rule in self.rules:
            why = rule.match(facts)
            if why is not None and (best is None or rule.specificity > best.rule.specificity):
                best = Match(rule, tuple(why))
        return best

    def printer_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.kind == "printer"]

    def serial_rules(self) -> list[Rule]:
        """Rules for serial ports: printers and bridges (the udev rules must cover each)."""
        return [r for r in self.rules if r.bridge or (r.kind == "printer" and r.vid is not None)]
