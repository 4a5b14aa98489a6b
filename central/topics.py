"""Read the contract's topics back into what they are about.

`bus/topics.py` spells topics for one classroom; central receives every
classroom's, so it needs the inverse: which classroom, which stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from classroomd.bus.topics import RESERVED

StreamKind = Literal["agent", "health", "inventory", "lesson", "alert", "device", "availability", "event"]

# Device ids as the agent's config allows them; anything else is not the contract.
DEVICE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: the database's column width for site and room
SEGMENT_MAX = 128


@dataclass(frozen=True)
class Stream:
    kind: StreamKind
    site: str
    room: str
    #: device id for device, availability and event; alert id for alert; "" otherwise
    key: str = ""
    #: event name for event
    name: str = ""


def parse(topic: str, base_topic: str) -> Stream | None:
    """The stream a topic belongs to, or None when it is not part of the contract."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != base_topic or not parts[1] or not parts[2]:
        return None
    site, room, rest = parts[1], parts[2], parts[3:]
    if len(site) > SEGMENT_MAX or len(room) > SEGMENT_MAX:
        return None
    head = rest[0]
    if len(rest) == 1:
        if head == "agent":
            return Stream("agent", site, room)
        if head == "devices":
            return Stream("inventory", site, room)
        if head == "lesson":
            return Stream("lesson", site, room)
        if head not in RESERVED and DEVICE_ID.match(head):
            return Stream("device", site, room, head)
        return None
    if len(rest) == 2:
        if head == "agent" and rest[1] == "health":
            return Stream("health", site, room)
        if head == "alert" and rest[1]:
            return Stream("alert", site, room, rest[1])
        if rest[1] == "availability" and head not in RESERVED and DEVICE_ID.match(head):
            return Stream("availability", site, room, head)
        return None
    if len(rest) == 3 and rest[1] == "event" and rest[2] and (head == "agent" or DEVICE_ID.match(head)):
        return Stream("event", site, room, head, rest[2])
    return None


def live_filters(base_topic: str) -> list[str]:
    """The retained lane without health: births, wills, inventory, device state, availability,
    alerts, the lesson. Few messages, and each one news. Ordinary subscriptions, since
    Mosquitto ≥ 2.0.13 sends no retained messages to a shared subscription."""
    return [
        f"{base_topic}/+/+/+",
        f"{base_topic}/+/+/+/availability",
        f"{base_topic}/+/+/alert/+",
    ]


def health_filter(base_topic: str) -> str:
    """Health is retained too, but a returning outbox sends a day of it at once: it travels
    with the events, on the connection a backlog may fill."""
    return f"{base_topic}/+/+/agent/health"


def event_filter(base_topic: str, shared_group: str | None) -> str:
    """The event lane; a shared subscription lets N ingesters split it."""
    plain = f"{base_topic}/+/+/+/event/#"
    return f"$share/{shared_group}/{plain}" if shared_group else plain

