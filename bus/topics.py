"""Topic names of the MQTT contract; the only place that spells them."""

from __future__ import annotations

from dataclasses import dataclass

from classroomd.core.vocabulary import RESERVED_IDS

RESERVED = RESERVED_IDS  # the name central reads


@dataclass(frozen=True)
class RequestTopic:
    target: str
    action: str


@dataclass(frozen=True)
class Topics:
    base_topic: str
    site: str
    room: str

    @property
    def root(self) -> str:
        return f"{self.base_topic}/{self.site}/{self.room}"

    @property
    def agent(self) -> str:
        return f"{self.root}/agent"

    @property
    def health(self) -> str:
        return f"{self.root}/agent/health"

    @property
    def inventory(self) -> str:
        return f"{self.root}/devices"

    @property
    def lesson(self) -> str:
        return f"{self.root}/lesson"

    def device(self, device_id: str) -> str:
        return f"{self.root}/{device_id}"

    def availability(self, device_id: str) -> str:
        return f"{self.root}/{device_id}/availability"

    def event(self, device_id: str, name: str) -> str:
        return f"{self.root}/{device_id}/event/{name}"

    def alert(self, alert_id: str) -> str:
        return f"{self.root}/alert/{alert_id}"

    def request(self, target: str, action: str) -> str:
        return f"{self.root}/{target}/request/{action}"

    def response(self, target: str, action: str) -> str:
        return f"{self.root}/{target}/response/{action}"

    @property
    def request_filter(self) -> str:
        return f"{self.root}/+/request/+"

    def parse_request(self, topic: str) -> RequestTopic | None:
        prefix = self.root + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix):].split("/")
        if len(parts) != 3 or parts[1] != "request" or not parts[0] or not parts[2]:
            return None
        return RequestTopic(parts[0], parts[2])
