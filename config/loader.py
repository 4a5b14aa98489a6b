"""Read a TOML config into typed models, with errors that name file, line and key."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from classroomd.config.schema import Config

Loc = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_NAME = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*=")


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = list(issues)


def _split_dotted(text: str) -> list[str]:
    parts = re.findall(r'"[^"]*"|\'[^\']*\'|[^.\s]+', text)
    return [p.strip("\"'") for p in parts]


def key_lines(text: str) -> dict[Loc, int]:
    """Map each key path in a TOML document to the line it is written on.

    tomllib keeps no positions, so this follows table headers and `key =`
    lines; it is only used to point at errors, never to read values.
    """
    lines: dict[Loc, int] = {}
    table: Loc = ()
    array_counts: dict[Loc, int] = {}
    in_multiline: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if in_multiline in raw:
                in_multiline = None
            continue
        header = _HEADER.match(raw)
        if header:
            names = _split_dotted(header.group(2))
            path: list[str | int] = []
            for name in names:
                path.append(name)
                idx = array_counts.get(tuple(path))
                if idx is not None and len(path) < len(names):
                    path.append(idx)
            if header.group(1) == "[[":
                idx = array_counts.get(tuple(path), -1) + 1
                array_counts[tuple(path)] = idx
                path.append(idx)
            table = tuple(path)
            lines.setdefault(table, number)
            continue
        key = _KEY.match(raw)
        if key:
            loc = table + tuple(_split_dotted(key.group(1)))
            lines.setdefault(loc, number)
            rest = raw[key.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_multiline = quote
    return lines


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _expected(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        return "unknown key (check its spelling; see config/classroom.example.toml)"
    if err["type"] == "missing":
        return "required key is missing"
    given = err.get("input")
    if given is not None and not isinstance(given, dict | list):
        return f"{msg} (got {given!r})"
    return msg


def issues_from_validation(
    exc: ValidationError, lines: dict[Loc, int], file: str, prefix: Loc = ()
) -> list[ConfigIssue]:
    out = []
    for err in exc.errors(include_url=False):
        # pydantic inserts the union member name (e.g. "str", "list[str]") into loc
        loc = prefix + tuple(p for p in err["loc"] if p not in ("str", "list[str]", "int"))
        out.append(ConfigIssue(file, _line_for(loc, lines), format_loc(loc), _expected(err)))
    return out


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


#: The model of a kind's own `[[devices]]` keys (None: the kind takes none). The daemon supplies it, so
#: the config layer never imports device code.
KindOptions = Callable[[str], type[BaseModel] | None]


def parse_config(text: str, file: str = "<config>", defaults: dict[str, Any] | None = None,
                 kind_options: KindOptions | None = None) -> Config:
    """Validate a config; `defaults` (e.g. the demo's) fill in what the file does not set.

    Without `kind_options`, the keys particular to a device kind are kept unchecked.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            [ConfigIssue(file, int(match.group(1)) if match else None, "", f"not valid TOML: {exc}")]
        ) from None
    lines = key_lines(text)
    if defaults:
        data = deep_merge(defaults, data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(issues_from_validation(exc, lines, file)) from None

    issues: list[ConfigIssue] = []
    seen: dict[str, int] = {}
    for index, dev in enumerate(config.devices):
        loc: Loc = ("devices", index, "id")
        if dev.id in seen:
            issues.append(
                ConfigIssue(file, _line_for(loc, lines), format_loc(loc),
                            f"device id {dev.id!r} is already used by devices[{seen[dev.id]}]")
            )
        seen.setdefault(dev.id, index)
        if kind_options is not None:
            issues.extend(_check_kind_options(kind_options(dev.kind), dev.kind, dev.extras, lines, file,
                                              ("devices", index)))
    if issues:
        raise ConfigError(issues)
    return config


def _check_kind_options(
    options_model: type[BaseModel] | None, kind: str, extras: dict[str, Any], lines: dict[Loc, int], file: str,
    prefix: Loc
) -> list[ConfigIssue]:
    if options_model is None:
        return [
            ConfigIssue(file, _line_for((*prefix, key), lines), format_loc((*prefix, key)),
                        f"unknown key for a {kind} device")
            for key in extras
        ]
    try:
        options_model.model_validate(extras)
    except ValidationError as exc:
        return issues_from_validation(exc, lines, file, prefix)
    return []


def load_config(path: str | Path, defaults: dict[str, Any] | None = None,
                kind_options: KindOptions | None = None) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), None, "", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(path), None, "", "not UTF-8 text")]) from None
    return parse_config(text, str(path), defaults, kind_options)
