"""Country names in kk/ru/en and the board's country card, offline.

Names come from pycountry's ISO 3166-1 data and its gettext translations;
capitals and areas from `config/countries.toml`, shipped in the package.
"""

from __future__ import annotations

import functools
import gettext
import tomllib
from importlib import resources
from typing import Any

import pycountry

LANGUAGES = ("kk", "ru", "en")


@functools.cache
def _translation(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True)


@functools.cache
def _cards() -> dict[str, dict[str, Any]]:
    text = resources.files("classroomd.config").joinpath("countries.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


class UnknownCountry(ValueError):
    pass


def flag(alpha2: str) -> str:
    """The flag emoji: two regional-indicator letters, no image files needed."""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in alpha2.upper())


def country_names(alpha2: str) -> dict[str, str]:
    country = pycountry.countries.get(alpha_2=alpha2.upper())
    if country is None:
        raise UnknownCountry(f"{alpha2!r} is not an ISO 3166-1 alpha-2 code")
    # The common name ("Russian Federation" -> "Russia") reads better on a board;
    # translations exist only for the official `name`, so use it for kk/ru.
    english = getattr(country, "common_name", None) or country.name
    return {lang: _translation(lang).gettext(country.name) if lang != "en" else english for lang in LANGUAGES}


def country_card(alpha2: str) -> dict[str, Any]:
    """What the board's country card shows: names, flag, capital, area."""
    code = alpha2.upper()
    card: dict[str, Any] = {"type": "country", "iso": code, "name": country_names(code), "flag": flag(code)}
    extra = _cards().get(code, {})
    if "capital" in extra:
        card["capital"] = dict(extra["capital"])
    if "area_km2" in extra:
        card["area_km2"] = extra["area_km2"]
    return card
