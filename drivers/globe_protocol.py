"""Globe profiles: how a smart globe reports a touch, and what each code means.

No vendor publishes a globe protocol, so the protocol is data: a profile
(TOML, one file per globe family) names the transport, how a touch arrives
(a text line, a fixed-size HID report, or a key code) and the region table.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ProfileError(ValueError):
    pass


class GlobeProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    transport: Literal["serial", "hidraw", "evdev"]
    baud: int = Field(9600, gt=0)
    line: str | None = None
    report_size: int | None = Field(None, gt=0, le=64)
    code_offset: int = Field(0, ge=0)
    code_bytes: int = Field(1, ge=1, le=4)
    code_base: int = Field(16, ge=2, le=36)
    #: code (as written in the line, or decimal for reports and key codes) -> ISO 3166-1 alpha-2
    regions: dict[str, str]

    @field_validator("line")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "code" not in compiled.groupindex:
            raise ValueError("the line pattern needs a named group (?P<code>…)")
        return value

    @field_validator("regions")
    @classmethod
    def _iso(cls, value: dict[str, str]) -> dict[str, str]:
        for code, iso in value.items():
            if pycountry.countries.get(alpha_2=iso.upper()) is None:
                raise ValueError(f"region {code!r}: {iso!r} is not an ISO 3166-1 alpha-2 country code")
        return {code: iso.upper() for code, iso in value.items()}

    @model_validator(mode="after")
    def _transport_needs(self) -> GlobeProfile:
        if self.transport == "serial" and self.line is None:
            raise ValueError("a serial globe profile needs `line`")
        if self.transport == "hidraw" and self.report_size is None:
            raise ValueError("a hidraw globe profile needs `report_size`")
        if self.report_size is not None and self.code_offset + self.code_bytes > self.report_size:
            raise ValueError("code_offset + code_bytes is past the end of the report")
        return self

    def _key(self, number: int) -> str | None:
        """Find the region table's spelling of a numeric code ("0A", "10", "a" …)."""
        for code in self.regions:
            try:
                if int(code, self.code_base) == number:
                    return code
            except ValueError:
                continue
        return None

    def code_from_line(self, text: str) -> int | None:
        """The region code in a line, or None when the line is not a touch (banners, keep-alives)."""
        assert self.line is not None
        match = re.match(self.line, text)
        if match is None:
            return None
        code = match.group("code")
        # A pattern may let through what int() reads differently or not at all ("zz", "-1", "0_1",
        # non-ASCII digits): such a line is noise, not a touch, and must not end the globe's reader.
        if not (code.isascii() and code.isalnum()):
            return None
        try:
            return int(code, self.code_base)
        except ValueError:
            return None

    def code_from_report(self, report: bytes) -> int | None:
        if self.report_size is None or len(report) < self.report_size:
            return None
        raw = report[self.code_offset : self.code_offset + self.code_bytes]
        return int.from_bytes(raw, "little") or None  # code 0 is "nothing touched"

    def region(self, code: int) -> str | None:
        key = self._key(code)
        return self.regions.get(key) if key is not None else None

    def code_text(self, code: int) -> str:
        return self._key(code) or format(code, "X" if self.code_base == 16 else "d")


def load_profile(name_or_path: str) -> GlobeProfile:
    """A shipped profile by name (`default`), or a profile file by path."""
    if "/" in name_or_path or name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"cannot read globe profile {path}: {exc.strerror}") from exc
    else:
        resource = resources.files("classroomd.config").joinpath("globe_profiles", f"{name_or_path}.toml")
        where = f"globe profile {name_or_path!r}"
        if not resource.is_file():
            raise ProfileError(f"no shipped globe profile {name_or_path!r}; give a path to a profile file")
        text = resource.read_text(encoding="utf-8")
    try:
        return GlobeProfile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{where}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ProfileError(f"{where}: {problems}") from exc
