"""Linked lessons on the shared (district) broker: invitations, mirrored boards, media, offers.

Everything here is retained state under the publishing room's own root, so a broker ACL that confines
a classroom to its own topics still works, and a room that was away converges to what is true now:

| topic (`R = {base}/{site}/{room}`) | retained | payload |
|---|---|---|
| `R/linked/invite/{site}/{room}` | yes | the hub's lesson for one invited room; empty when it ends |
| `R/linked/board/{panel}` | yes | what the panel shows (`LinkedBoard`); empty when the lesson ends |
| `R/linked/media/{id}` | yes | the remote copy of a picture, JPEG bytes; fetched only on demand |
| `R/linked/offer` | yes | a picture offered to the hub's panel, with a tiny thumbnail; empty when withdrawn |
| `R/linked/answer/{site}/{room}` | yes | the hub's answer to that room's offer: shown or dismissed |
| `R/linked/ink/{panel}` | no, QoS 0 | a batch of tablet ink on the panel's board (services/linked_ink.py) |
| `R/linked/ink-state/{panel}` | yes | the panel's ink as it is now, for the current board; taken only when needed |

A room subscribes to the invitations addressed to it (`{base}/+/+/linked/invite/{me}`), so a room
that is not linked receives nothing. Media are fetched by subscribing to one id and dropping the
subscription once it arrived, so a picture crosses a link once and a reconnect does not resend it.
The ink snapshot likewise: a room subscribes to it after a reconnect or a lost batch, and drops the
subscription once a snapshot made it current, so the hub's snapshots cost nothing while the live
batches arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from classroomd.bus.client import BrokerUrl, Message, MqttClient, NotConnected

log = logging.getLogger("classroomd.linked")

ROOM_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}/[A-Za-z0-9_-]{1,64}$")
MEDIA_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{5,80}$")
#: A remote copy bigger than this is refused by the receiver: the sender's budget is 100 KB.
MAX_MEDIA_BYTES = 2 * 1024 * 1024


class Invite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lesson: str
    subject: str
    teacher: str
    started: str
    hub: str = Field(description="`{site}/{room}` of the room that teaches")
    rooms: list[str] = Field(description="every linked room, `{site}/{room}`")


class LinkedMedia(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="the media id in the publishing room; `R/linked/media/{id}` has the bytes")
    bytes: int
    width: int | None = None
    height: int | None = None
    um_per_px: float | None = Field(None, description="for the remote copy's own pixels")
    caption: str = ""
    device: str | None = None
    created: str | None = None
    origin: str | None = Field(None, description="`{site}/{room}:{id}` when the picture came from another room")


class LinkedBoard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int = Field(description="+1 per show in the publishing room's lesson; a receiver skips what it applied")
    lesson: str
    kind: str = Field(description="media, card or clear")
    media: LinkedMedia | None = None
    card: dict[str, Any] | None = None
    live: dict[str, Any] | None = Field(None, description="`{device, name}`: frames on `R/linked/live/{device}`")


#: An offer's thumbnail is at most this many bytes (as base64 in the offer): a weak link carries it at once.
MAX_THUMB_BYTES = 8 * 1024


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: int
    lesson: str
    media: LinkedMedia
    thumb: str | None = Field(None, max_length=(MAX_THUMB_BYTES + 2) // 3 * 4,
                              description="the picture as a small JPEG (≤ 8 KB), base64: the hub's remote shows it")


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lesson: str
    seq: int = Field(description="the offer's seq")
    state: Literal["shown", "dismissed"]


class LiveAck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str
    seq: int


MODELS: dict[str, type[BaseModel]] = {"invite": Invite, "board": LinkedBoard, "offer": Offer, "live-ack": LiveAck,
                                      "answer": Answer}


def room_key(site: str, room: str) -> str:
    return f"{site}/{room}"


class LinkedTopics:
    def __init__(self, base_topic: str, me: str) -> None:
        self.base = base_topic
        self.me = me

    def invite(self, to: str, hub: str | None = None) -> str:
        return f"{self.base}/{hub or self.me}/linked/invite/{to}"

    @property
    def invites_for_me(self) -> str:
        return f"{self.base}/+/+/linked/invite/{self.me}"

    def board(self, panel: str, room: str | None = None) -> str:
        return f"{self.base}/{room or self.me}/linked/board/{panel}"

    def boards_of(self, room: str) -> str:
        return f"{self.base}/{room}/linked/board/+"

    def media(self, media_id: str, room: str | None = None) -> str:
        return f"{self.base}/{room or self.me}/linked/media/{media_id}"

    def offer(self, room: str | None = None) -> str:
        return f"{self.base}/{room or self.me}/linked/offer"

    def live(self, device: str, room: str | None = None) -> str:
        return f"{self.base}/{room or self.me}/linked/live/{device}"

    def live_ack(self, room: str | None = None) -> str:
        return f"{self.base}/{room or self.me}/linked/live-ack"

    def answer(self, to: str, room: str | None = None) -> str:
        return f"{self.base}/{room or self.me}/linked/answer/{to}"

    def ink(self, panel: str, room: str | None = None) -> str:
        return f"{self.base}/{room or self.me}/linked/ink/{panel}"

    def ink_state(self, panel: str, room: str | None = None) -> str:
        return f"{self.base}/{room or self.me}/linked/ink-state/{panel}"

    def parse(self, topic: str) -> tuple[str, str, str] | None:
        """`(room, what, rest)` of a linked topic, e.g. `("s/r", "board", "panel-1")`."""
        parts = topic.split("/")
        if len(parts) < 5 or parts[0] != self.base or parts[3] != "linked":
            return None
        return f"{parts[1]}/{parts[2]}", parts[4], "/".join(parts[5:])


Handler = Callable[[str, str, str, dict[str, Any] | None], None]


class LinkedBus:
    """One MQTT connection of its own: its traffic is the linked lesson's cost, counted by its socket."""

    def __init__(self, client: MqttClient, base_topic: str, me: str) -> None:
        self.client = client
        self.topics = LinkedTopics(base_topic, me)
        self.me = me
        #: (room, what, rest, payload or None for a cleared topic): invites, boards (rest: the panel), offers
        self.on_state: Handler | None = None
        #: (room, device, payload): a live frame of a followed microscope
        self.on_live: Callable[[str, str, bytes], None] | None = None
        #: after each connect, so the owner can publish what the link missed
        self.on_connect: Callable[[], None] | None = None
        #: (room, panel, payload, is the retained snapshot): ink of a followed hub
        self.on_ink: Callable[[str, str, bytes, bool], None] | None = None
        self._fetches: dict[str, asyncio.Future[bytes]] = {}
        self._followed: set[str] = set()
        client.on_message = self._on_message
        client.on_connect.append(self._connected)
        client.subscribe(self.topics.invites_for_me, qos=1)

    @property
    def bytes_up(self) -> int:
        return self.client.traffic.sent

    @property
    def bytes_down(self) -> int:
        return self.client.traffic.received

    # --- following another room ---------------------------------------------------------------------
    def follow(self, room: str, boards: bool = True, offers: bool = False) -> None:
        for wanted, topic, qos in ((boards, self.topics.boards_of(room), 1), (offers, self.topics.offer(room), 1),
                                   (offers, self.topics.live_ack(room), 1),
                                   (boards, self.topics.answer(self.me, room), 1),
                                   (boards, self.topics.ink("+", room), 0)):
            if wanted and topic not in self._followed:
                self._followed.add(topic)
                self.client.subscribe(topic, qos=qos)

    def unfollow(self, room: str) -> None:
        for topic in (self.topics.boards_of(room), self.topics.offer(room), self.topics.live_ack(room),
                      self.topics.answer(self.me, room), self.topics.ink("+", room), self.topics.ink_state("+", room)):
            self._forget(topic)

    def want_ink_state(self, room: str, wanted: bool) -> None:
        """Take the hub's retained ink snapshots (after a reconnect or a lost batch) or stop taking them."""
        topic = self.topics.ink_state("+", room)
        if wanted and topic not in self._followed:
            self._followed.add(topic)
            self.client.subscribe(topic, qos=1)
        elif not wanted and topic in self._followed:
            self._forget(topic)

    def follow_live(self, room: str, device: str) -> None:
        topic = self.topics.live(device, room)
        if topic not in self._followed:
            self._followed.add(topic)
            self.client.subscribe(topic, qos=0)

    def unfollow_live(self, room: str, device: str) -> None:
        self._forget(self.topics.live(device, room))

    def follows(self, room: str) -> bool:
        return any(t in self._followed for t in (self.topics.boards_of(room), self.topics.offer(room)))

    def _forget(self, topic: str) -> None:
        self._followed.discard(topic)
        self.client.unsubscribe(topic)

    async def fetch_media(self, room: str, media_id: str) -> bytes:
        """The remote copy's bytes, waiting through link drops; cancel to give up (a newer show came)."""
        topic = self.topics.media(media_id, room)
        future = self._fetches.get(topic)
        if future is None or future.done():
            future = asyncio.get_running_loop().create_future()
            self._fetches[topic] = future
            self.client.subscribe(topic, qos=1)
        try:
            return await asyncio.shield(future)
        finally:
            if self._fetches.get(topic) is future:
                del self._fetches[topic]
            self._forget(topic)

    # --- publishing (retained, QoS 1) -----------------------------------------------------------------
    async def publish(self, what: str, name: str, body: dict[str, Any] | bytes | None) -> bool:
        """Publish retained state (None clears it); False when the link is down (publish again on connect).

        `what` is invite (name: the invited room), board (name: the panel), media (name: the id, body:
        JPEG bytes), offer (name unused), answer (name: the room that offered) or ink-state (name: the
        panel, body: the snapshot's bytes).
        """
        topic = {"invite": lambda: self.topics.invite(name), "board": lambda: self.topics.board(name),
                 "media": lambda: self.topics.media(name), "offer": lambda: self.topics.offer(),
                 "answer": lambda: self.topics.answer(name), "ink-state": lambda: self.topics.ink_state(name)}[what]()
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        else:
            payload = MODELS[what].model_validate(body).model_dump_json(exclude_none=True).encode()
        return await self._send(topic, payload, qos=1, retain=True)

    async def send_live(self, device: str, payload: bytes) -> bool:
        """A frame at QoS 0, not retained: a lost frame is replaced by the next, never resent."""
        return await self._send(self.topics.live(device), payload, qos=0)

    async def send_ink(self, panel: str, payload: bytes) -> bool:
        """A batch of ink at QoS 0: a lost one is made good by the snapshot, never resent."""
        return await self._send(self.topics.ink(panel), payload, qos=0)

    async def _send(self, topic: str, payload: bytes, qos: int, retain: bool = False) -> bool:
        """False when the link is down: the caller decides whether it is sent again."""
        try:
            await self.client.publish(topic, payload, qos=qos, retain=retain)
        except NotConnected:
            return False
        return True

    async def ack_live(self, device: str, seq: int) -> None:
        with contextlib.suppress(NotConnected):
            await self.client.publish(self.topics.live_ack(), LiveAck(device=device, seq=seq).model_dump_json(), qos=0)

    async def _connected(self, _url: BrokerUrl, _protocol: int) -> None:
        if self.on_connect is not None:
            self.on_connect()

    # --- receiving ------------------------------------------------------------------------------------
    def _on_message(self, message: Message) -> None:
        future = self._fetches.get(message.topic)
        if future is not None:
            if message.payload and len(message.payload) <= MAX_MEDIA_BYTES and not future.done():
                future.set_result(message.payload)
            return
        parsed = self.topics.parse(message.topic)
        if parsed is None or self.on_state is None:
            return
        room, what, rest = parsed
        if what in ("ink", "ink-state"):
            if self.on_ink is not None and message.payload:
                self.on_ink(room, rest, message.payload, what == "ink-state")
            return
        if what == "live":
            if self.on_live is not None and message.topic in self._followed:
                self.on_live(room, rest, message.payload)
            return
        if what not in MODELS:
            return
        body: dict[str, Any] | None = None
        if message.payload:
            with contextlib.suppress(ValueError):
                loaded = json.loads(message.payload)
                body = loaded if isinstance(loaded, dict) else None
            try:
                body = MODELS[what].model_validate(body).model_dump()
            except ValueError as exc:
                log.warning("ignored a linked %s from %s that does not match the contract: %s", what, room, exc)
                return
        self.on_state(room, what, rest, body)
