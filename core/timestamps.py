"""The one timestamp format on the wire and on disk: ISO 8601 in UTC with a `Z`, to the millisecond.

Readers (the central server, dashboards, spreadsheets) parse one shape; the earlier mix of
`+00:00` and `Z`, seconds and milliseconds made string comparison of two timestamps lie.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def parse_iso(text: str) -> datetime:
    """Read a wire timestamp (also the older `+00:00` and second-precision forms)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
