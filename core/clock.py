"""Dates and times for people: the school's time zone and the reader's language.

The wire and the disk keep ISO 8601 in UTC (`core/timestamps.py`); only what a person reads
is turned into "14:14" or "2 желтоқсан 2026", in the zone `[agent] timezone` names (the
system's when it names none). Standard library only, so every layer may use it.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from classroomd.core.timestamps import parse_iso

LANGUAGES = ("kk", "ru", "en")

# Russian needs the genitive after a day number ("2 декабря"); Kazakh and English do not.
MONTHS: dict[str, tuple[str, ...]] = {
    "kk": ("қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым",
           "шілде", "тамыз", "қыркүйек", "қазан", "қараша", "желтоқсан"),
    "ru": ("января", "февраля", "марта", "апреля", "мая", "июня",
           "июля", "августа", "сентября", "октября", "ноября", "декабря"),
    "en": ("January", "February", "March", "April", "May", "June",
           "July", "August", "September", "October", "November", "December"),
}


def zone(name: str | None) -> tzinfo | None:
    """The named IANA zone; None stands for the system's own, resolved per date by `astimezone()`."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Almaty)") from exc


def local(when: str | datetime, tz: tzinfo | None) -> datetime | None:
    """A wire timestamp in the school's zone; None when it is not a timestamp at all."""
    if isinstance(when, str):
        try:
            when = parse_iso(when)
        except ValueError:
            return None
    if when.tzinfo is None:  # naive values on our disk are UTC, as everything we write
        return None
    return when.astimezone(tz)


def time_text(when: str | datetime, tz: tzinfo | None) -> str:
    moment = local(when, tz)
    return moment.strftime("%H:%M") if moment is not None else ""


def date_text(when: str | datetime, lang: str, tz: tzinfo | None) -> str:
    moment = local(when, tz)
    if moment is None:
        return ""
    months = MONTHS.get(lang, MONTHS["en"])
    return f"{moment.day} {months[moment.month - 1]} {moment.year}"


def date_time_text(when: str | datetime, lang: str, tz: tzinfo | None) -> str:
    moment = local(when, tz)
    if moment is None:
        return ""
    return f"{date_text(moment, lang, tz)}, {time_text(moment, tz)}"


def for_everyone(when: str | datetime, tz: tzinfo | None,
                 now: datetime | None = None) -> dict[str, str | bool | dict[str, str]]:
    """The time and the date in every language, for a page that picks its own (the lesson board);
    `today` lets it leave out a date everyone knows."""
    moment = local(when, tz)
    today = moment is not None and moment.date() == (now or datetime.now(UTC)).astimezone(tz).date()
    return {"time": time_text(when, tz), "date": {lang: date_text(when, lang, tz) for lang in LANGUAGES},
            "today": today}
