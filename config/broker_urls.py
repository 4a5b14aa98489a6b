"""Broker URLs as config files write them: one place for the check the agent's, the uplink's and
central's sections share."""

from __future__ import annotations

import re

#: HOST and PORT; the agent's sections want the port written out, central's defaults it.
URL_RE = re.compile(r"^(mqtt|mqtts|embedded)://[^:/\s]+:\d{1,5}$")
URL_OPTIONAL_PORT_RE = re.compile(r"^(mqtt|mqtts|embedded)://[^:/\s]+(:\d{1,5})?$")


def check_urls(value: str | list[str], pattern: re.Pattern[str] = URL_RE) -> str | list[str]:
    """One URL or a list tried in order; every one must be a broker URL."""
    urls = [value] if isinstance(value, str) else value
    if not urls:
        raise ValueError("at least one broker URL is needed")
    for url in urls:
        if not pattern.match(url):
            raise ValueError(f"{url!r} is not a broker URL; expected mqtt://HOST:PORT, mqtts://HOST:PORT "
                             "or embedded://HOST:PORT")
    return value


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
