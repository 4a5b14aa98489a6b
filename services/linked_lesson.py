"""One lesson, several classrooms: the hub's board mirrored on the linked rooms' panels, by state.

The hub publishes what each of its panels shows as retained state, and each picture once, as a
remote copy sized for a rural link; a linked room follows that state and applies only the newest,
so after a drop it converges to what is shown now instead of replaying every push it missed. A
picture that arrived once is kept in the room's own media store (tagged with where it came from),
so showing it again costs nothing and the room's own agent serves it to its board.

The MQTT side is a `LinkTransport` (bus/linked.py); this module knows no topics.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from classroomd.core.vocabulary import RequestError
from classroomd.services.linked_ink import InkReceiver, InkSender
from classroomd.services.linked_ink import decode as decode_ink
from classroomd.services.linked_live import LiveReceiver, LiveSender
from classroomd.services.media import MediaStore

log = logging.getLogger("classroomd.linked")

#: The remote copy's budget: a 1 Mbit/s link carries it in under a second.
REMOTE_MAX_BYTES = 100_000
REMOTE_MAX_WIDTH = 1280
#: An offer's thumbnail (in the offer itself, so the hub's teacher sees it before anything else crosses)
THUMB_MAX_BYTES = 8 * 1024
#: The key a received picture carries in its sidecar: `{site}/{room}:{id}` of where it came from.
ORIGIN_KEY = "linked_origin"

LINE_TEXT = {"kk": "Байланыстағы сыныптар: {rooms}", "ru": "Связанные классы: {rooms}",
             "en": "Linked with {rooms}"}
LIVE_TEXT = {"kk": "Тірі көрініс негізгі мектепте", "ru": "Живое изображение — в опорной школе",
             "en": "Live view at the hub school"}


class LinkTransport(Protocol):
    on_state: Callable[[str, str, str, dict[str, Any] | None], None] | None
    on_connect: Callable[[], None] | None
    on_live: Callable[[str, str, bytes], None] | None
    on_ink: Callable[[str, str, bytes, bool], None] | None

    @property
    def bytes_up(self) -> int: ...
    @property
    def bytes_down(self) -> int: ...
    def follow(self, room: str, boards: bool = True, offers: bool = False) -> None: ...
    def unfollow(self, room: str) -> None: ...
    async def fetch_media(self, room: str, media_id: str) -> bytes: ...
    async def publish(self, what: str, name: str, body: dict[str, Any] | bytes | None) -> bool: ...
    def follow_live(self, room: str, device: str) -> None: ...
    def unfollow_live(self, room: str, device: str) -> None: ...
    async def send_live(self, device: str, payload: bytes) -> bool: ...
    async def ack_live(self, device: str, seq: int) -> None: ...
    async def send_ink(self, panel: str, payload: bytes) -> bool: ...
    def want_ink_state(self, room: str, wanted: bool) -> None: ...


def offer_thumb(jpeg: bytes) -> bytes:
    """A thumbnail within THUMB_MAX_BYTES; blocking (call in a thread)."""
    from classroomd.drivers.v4l_capture import scaled_jpeg

    thumb = jpeg
    for width, quality in ((200, 60), (160, 50), (120, 40), (80, 30)):
        thumb = scaled_jpeg(jpeg, width, quality)
        if len(thumb) <= THUMB_MAX_BYTES:
            break
    return thumb


def remote_copy(jpeg: bytes, budget: int = REMOTE_MAX_BYTES,
                max_width: int = REMOTE_MAX_WIDTH) -> tuple[bytes, int, int, int]:
    """`(jpeg, width, height, original width)` of a copy within `budget` bytes; blocking (call in a thread).

    A picture already within budget travels as it is: re-encoding would only lose detail. Otherwise
    the size is estimated from the last try (bytes grow about with the pixel count), so a noisy 1080p
    capture takes two or three encodes, not a search.
    """
    import cv2

    from classroomd.drivers.v4l_capture import decode, encode_jpeg, jpeg_size

    original_w, _h = jpeg_size(jpeg)
    if len(jpeg) <= budget and original_w <= max_width:
        return jpeg, original_w, _h, original_w
    full = decode(jpeg, max_width)
    original_w = original_w or full.shape[1]
    width, quality = min(max_width, full.shape[1]), 80
    data = jpeg
    for _ in range(6):
        h, w = full.shape[:2]
        image = full if w <= width else cv2.resize(full, (width, max(1, round(h * width / w))),
                                                   interpolation=cv2.INTER_AREA)
        data = encode_jpeg(image, quality)
        if len(data) <= budget or width <= 160:
            break
        if quality > 65:  # first give up some quality: a smaller picture loses more of the specimen
            quality = 65
        else:
            width = max(160, int(width * min(0.95, (budget / len(data) * 0.92) ** 0.5)))
    return data, image.shape[1], image.shape[0], original_w


class LinkedLesson:
    """Both ends of a linked lesson: the hub's publishing and a linked room's following.

    The agent gives it its lesson (`join`, `leave`) and its panels (`show_here`), and calls
    `board_shown` for every show on its own boards.
    """

    def __init__(self, me: str, transport: LinkTransport, media: Callable[[], MediaStore], state_file: Path,
                 join: Callable[[dict[str, Any]], None], leave: Callable[[str], None],
                 show_here: Callable[[dict[str, Any]], Awaitable[None]], *,
                 frame: Callable[[str], Awaitable[tuple[bytes, float]]] | None = None,
                 show_board: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
                 ink_here: Callable[[dict[str, Any]], None] | None = None, accept_offers: str = "ask") -> None:
        self.me = me
        self.transport = transport
        self._media = media
        self._file = state_file
        self._join, self._leave, self._show_here = join, leave, show_here
        #: the newest JPEG (and its capture time) of a microscope; the board content as it is, for the live view
        self._frame, self._show_board = frame, show_board
        self.live_sender: LiveSender | None = None
        self._live_task: asyncio.Task[None] | None = None
        self.live: LiveReceiver | None = None
        #: the lesson's invitation as the hub wrote it; None when no linked lesson runs
        self.invite: dict[str, Any] | None = None
        self._seq = 0
        #: hub: the last show per panel, published again after a reconnect
        self._boards: dict[str, dict[str, Any]] = {}
        #: media ids whose remote copy the broker holds (retained), to clear when the lesson ends
        self._sent_media: set[str] = set()
        self._described: dict[str, dict[str, Any]] = {}
        #: retained state that could not be published (link down), by (what, name)
        self._unsent: dict[tuple[str, str], dict[str, Any] | bytes | None] = {}
        #: linked room: the newest board it applied, per (room, panel)
        self._applied: dict[tuple[str, str], int] = {}
        self._applying: asyncio.Task[None] | None = None
        self.offers: dict[str, dict[str, Any]] = {}
        self._taken: set[tuple[str, int]] = set()
        self._answered: set[str] = set()
        #: a linked lesson this room left on its own
        self._left: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._publishing = asyncio.Lock()
        self._flushing = asyncio.Lock()
        self.shown_here = 0  # linked shows applied on this room's panels
        #: "always": an offer is shown at once; "ask": it waits for the teacher (her remote)
        self.accept_offers = accept_offers
        #: linked room: its own offer and what the hub did with it (waiting, shown, dismissed)
        self.my_offer: dict[str, Any] | None = None
        #: hub: tablet ink on the mirrored boards; linked room: the hub's ink per (room, panel)
        self.ink = InkSender(self._send_ink, lambda panel, payload: self._put("ink-state", panel, payload))
        self._ink_here = ink_here
        self._ink_in: dict[tuple[str, str], InkReceiver] = {}
        #: linked room: the hub's board on this room's panels now, (room, panel, seq)
        self._on_board: tuple[str, str, int] | None = None
        transport.on_state = self._arrived
        transport.on_connect = self._reconnected
        transport.on_live = self._live_arrived
        transport.on_ink = self._ink_arrived
        self._load()

    # --- who we are in it ---------------------------------------------------------------------------
    @property
    def role(self) -> str | None:
        if self.invite is None:
            return None
        return "hub" if self.invite["hub"] == self.me else "linked"

    def others(self) -> list[str]:
        if self.invite is None:
            return []
        return [r for r in [self.invite["hub"], *self.invite["rooms"]] if r != self.me]

    @property
    def unsent(self) -> int:
        """Retained state waiting for the link (published on the next connect)."""
        return len(self._unsent)

    def status(self) -> dict[str, Any]:
        rooms = ", ".join(self.others())
        return {"role": self.role, "lesson": self.invite["lesson"] if self.invite else None,
                "hub": self.invite["hub"] if self.invite else None, "rooms": self.others(),
                "line": {k: v.format(rooms=rooms) for k, v in LINE_TEXT.items()} if rooms else None,
                "offers": [{"room": r, **o} for r, o in self.offers.items()], "offer": self.my_offer,
                "bytes_up": self.transport.bytes_up, "bytes_down": self.transport.bytes_down, "unsent": self.unsent}

    def health(self) -> dict[str, Any]:
        return {"role": self.role, "rooms": len(self.others()),
                "bytes_up": self.transport.bytes_up, "bytes_down": self.transport.bytes_down}

    # --- the hub ---------------------------------------------------------------------------------------
    def lesson_started(self, lesson: dict[str, Any], rooms: list[str]) -> dict[str, Any] | None:
        """A lesson started here: linked when `rooms` are given; any earlier linked lesson ends (or is left)."""
        if self.invite is not None and (rooms or self.invite["lesson"] != lesson["id"]):
            self.lesson_ended(self.invite["lesson"])
        return self.start_hub(lesson, rooms) if rooms else None

    def start_hub(self, lesson: dict[str, Any], rooms: list[str]) -> dict[str, Any]:
        rooms = [r for r in dict.fromkeys(rooms) if r != self.me]
        if self.role == "hub":
            self._end_hub()
        self.invite = {"lesson": lesson["id"], "subject": lesson["subject"], "teacher": lesson["teacher"],
                       "started": lesson["started"], "hub": self.me, "rooms": rooms}
        self._seq = 0
        for room in rooms:
            self.transport.follow(room, boards=False, offers=True)
            self._put("invite", room, self.invite)
        self._save()
        log.info("linked lesson %s with %s", lesson["id"], ", ".join(rooms))
        return self.status()

    def lesson_ended(self, lesson_id: str) -> None:
        if self.invite is None or self.invite["lesson"] != lesson_id:
            return
        if self.role == "hub":
            self._end_hub()
        else:  # left here: the hub's invitation, still retained, must not bring it back after a reconnect
            self._stop_following()
            self._left = lesson_id
        self.invite = None
        self._save()

    def _end_hub(self) -> None:
        assert self.invite is not None
        self._live_for({})
        for room in self.invite["rooms"]:
            self.transport.unfollow(room)
            self._put("invite", room, None)
        for panel in self._boards:
            self._put("board", panel, None)
            self._put("ink-state", panel, None)
        for room in self._answered:
            self._put("answer", room, None)
        self._answered.clear()
        self.ink.forget()
        for media_id in self._sent_media:
            self._put("media", media_id, None)
        self._boards.clear()
        self._sent_media.clear()
        self._described.clear()
        self.offers.clear()

    def board_shown(self, panel: str, content: dict[str, Any]) -> None:
        """The board hub's observer: a show on this room's own panel."""
        if self.role == "hub":
            self._seq += 1
            self._boards[panel] = {"seq": self._seq, "content": content}
            self.ink.board_changed(panel, self._seq)
            self._live_for(content)
            self._spawn(self._publish_board(panel))

    def _send_ink(self, panel: str, payload: bytes) -> None:
        self._spawn(self.transport.send_ink(panel, payload))

    def ink_drawn(self, panel: str, message: dict[str, Any]) -> None:
        """The board hub's ink observer: tablet ink that reached this room's own boards."""
        if self.role == "hub" and message.get("type") == "ink":
            try:
                self.ink.drawn(panel, message)
            except (TypeError, ValueError) as exc:  # the hub's own boards must get their ink whatever this makes of it
                log.warning("ink not mirrored: %s", exc)

    async def _publish_board(self, panel: str) -> None:
        async with self._publishing:  # in the order shown; a stale one is skipped below
            latest = self._boards.get(panel)
            if latest is None or self.invite is None:
                return
            content, seq = latest["content"], latest["seq"]
            board: dict[str, Any] = {"seq": seq, "lesson": self.invite["lesson"], "kind": "clear"}
            kind = content.get("kind")
            if kind == "media":
                described = await self._send_media(str(content.get("media")))
                if described is not None:
                    board.update(kind="media", media=described)
            elif kind == "card":
                board.update(kind="card", card=content.get("card"))
            elif kind == "stream" and self._frame is not None:
                board.update(kind="live", live={"device": content.get("device"), "name": content.get("name")})
            elif kind == "stream":  # no frames to send: the linked rooms are told where the live view is
                board.update(kind="card", card={"type": "text", "title": str(content.get("name") or ""),
                                                "text": LIVE_TEXT})
            if self._boards.get(panel, {}).get("seq") == seq:
                self._put("board", panel, board)

    async def _send_media(self, media_id: str) -> dict[str, Any] | None:
        """The picture's description for the board, its remote copy published once per lesson."""
        item = self._media().get(media_id)
        if item is None:
            return None
        if media_id in self._described:  # shown again: neither encoded nor sent again
            return self._described[media_id]
        jpeg = await asyncio.to_thread(self._media().original_path(media_id).read_bytes)
        copy, width, height, original_width = await asyncio.to_thread(remote_copy, jpeg)
        um = item.meta.get("um_per_px")
        described = {"id": media_id, "bytes": len(copy), "width": width, "height": height,
                     "um_per_px": um * original_width / width if isinstance(um, int | float) and width else None,
                     "caption": item.meta.get("caption") or "", "device": item.meta.get("device"),
                     "created": item.meta.get("created"), "origin": item.meta.get(ORIGIN_KEY)}
        self._described[media_id] = described
        if media_id not in self._sent_media:
            self._sent_media.add(media_id)
            self._put("media", media_id, copy)
            self._save()
        return described

    # --- publishing that survives a drop -----------------------------------------------------------
    def _reconnected(self) -> None:
        if self.role == "linked" and self.invite is not None:  # batches were lost: take the ink as it is now
            for receiver in self._ink_in.values():
                receiver.reconnected()
            self.transport.want_ink_state(self.invite["hub"], True)
        self._spawn(self._flush())

    def _put(self, what: str, name: str, body: dict[str, Any] | bytes | None) -> None:
        self._unsent[(what, name)] = body
        self._spawn(self._flush())

    async def _flush(self) -> None:
        async with self._flushing:  # one at a time, or a picture in flight would be sent twice
            await self._flush_unsent()

    async def _flush_unsent(self) -> None:
        # Media first, so that a board naming a picture never reaches the broker before the picture.
        for key in sorted(self._unsent, key=lambda k: k[0] != "media"):
            if key not in self._unsent:
                continue
            body = self._unsent[key]
            if not await self.transport.publish(key[0], key[1], body):
                return  # the next connect flushes the rest
            if self._unsent.get(key) is body:
                del self._unsent[key]

    # --- a linked room -----------------------------------------------------------------------------
    def _arrived(self, room: str, what: str, rest: str, body: dict[str, Any] | None) -> None:
        if what == "invite":
            self._invited(room, body)
        elif what == "board" and self.role == "linked" and self.invite and room == self.invite["hub"]:
            if body is not None:
                self._board_arrived(room, rest, body)
        elif what == "live-ack" and self.live_sender is not None and body is not None:
            self.live_sender.acked(int(body["seq"]))
        elif what == "offer" and self.role == "hub" and self.invite and room in self.invite["rooms"]:
            if body is None or body["lesson"] != self.invite["lesson"] or (room, body["seq"]) in self._taken:
                self.offers.pop(room, None)
            else:
                self.offers[room] = body
                if self.accept_offers == "always":
                    self._spawn(self.accept(room))
        elif what == "answer" and self.role == "linked" and self.invite and room == self.invite["hub"]:
            mine = self.my_offer
            if rest == self.me and body is not None and mine is not None and body["seq"] == mine["seq"]:
                mine["state"] = body["state"]
                self._put("offer", "", None)  # answered: the hub needs it no more

    def _invited(self, hub: str, body: dict[str, Any] | None) -> None:
        if body is None:
            if self.invite is not None and self.invite["hub"] == hub and self.role == "linked":
                lesson = self.invite["lesson"]
                self._stop_following()
                self.invite = None
                self._save()
                self._leave(lesson)
            return
        if body["hub"] != hub or self.me not in body["rooms"] or body["lesson"] == self._left:
            return  # an invitation must come from the hub it names, to a room it lists
        if self.invite == body:
            return
        if self.role == "linked" and self.invite is not None:
            self._stop_following()
        self.invite = body
        self._save()
        self._join(body)
        self.transport.follow(hub, boards=True)
        self.transport.want_ink_state(hub, True)  # joined while the hub draws: its ink as it is now
        log.info("joined the linked lesson %s of %s", body["lesson"], hub)

    def _stop_following(self) -> None:
        """Leave as a linked room: stop following the hub, and take back what we offered."""
        if self.invite is not None:
            self.transport.unfollow(self.invite["hub"])
        for media_id in self._sent_media:
            self._put("media", media_id, None)
        if self._sent_media:
            self._put("offer", "", None)
        self._sent_media.clear()
        self._described.clear()
        if self._applying is not None:
            self._applying.cancel()
        self._applied.clear()
        self._ink_in.clear()
        self._on_board = None
        self.my_offer = None
        self._stop_receiving()

    def _board_arrived(self, room: str, panel: str, body: dict[str, Any]) -> None:
        if self._applied.get((room, panel)) == body["seq"] or body["lesson"] != (self.invite or {}).get("lesson"):
            return
        # Only the newest matters: a picture still on its way for an older show is abandoned.
        if self._applying is not None:
            self._applying.cancel()
        self._applying = self._spawn(self._apply(room, panel, body))

    async def _apply(self, room: str, panel: str, body: dict[str, Any]) -> None:
        kind = body["kind"]
        self._stop_receiving()
        if kind == "live" and body.get("live") and self._show_board is not None:
            device = str(body["live"]["device"])
            self.live = LiveReceiver(room, device)
            self.transport.follow_live(room, device)
            await self._show_board({"kind": "stream", "device": device, "name": body["live"].get("name") or device,
                                    "url": f"/linked/live/{room}/{device}", "lesson": body["lesson"]})
            self._applied[(room, panel)] = body["seq"]
            self.shown_here += 1
            self._board_applied(room, panel, body["seq"])
            return
        if kind == "media" and body.get("media"):
            local = await self._local_copy(room, body["media"])
            show: dict[str, Any] = {"media": local}
        elif kind == "card" and body.get("card"):
            show = {"card": body["card"]}
        else:
            show = {"clear": True}
        for wait in (0.5, 1, 2, 4, 8, 15, 30, 60):
            try:
                await self._show_here(show)
                break
            except RequestError as exc:
                # No board open yet (the panel's browser still starting): still the newest, so keep trying.
                log.info("linked show not on the board yet (%s); again in %gs", exc, wait)
                await asyncio.sleep(wait)
        else:
            return
        self._applied[(room, panel)] = body["seq"]
        self.shown_here += 1
        self._board_applied(room, panel, body["seq"])

    # --- the hub's tablet ink on this room's boards --------------------------------------------------
    def _board_applied(self, room: str, panel: str, seq: int) -> None:
        self._on_board = (room, panel, seq)
        receiver = self._ink_in.get((room, panel))
        if receiver is not None and receiver.seq == seq and receiver.strokes and self._ink_here is not None:
            self._ink_here(receiver.board())  # ink that came while the picture was on its way

    def _ink_arrived(self, room: str, panel: str, payload: bytes, snapshot: bool) -> None:
        if self.role != "linked" or self.invite is None or room != self.invite["hub"]:
            return
        batch = decode_ink(payload)
        if batch is None:
            return
        receiver = self._ink_in.setdefault((room, panel), InkReceiver())
        message = receiver.snapshot(batch) if snapshot else receiver.live(batch)
        wanted = any(r.wanted is not None for (r_room, _p), r in self._ink_in.items() if r_room == room)
        self.transport.want_ink_state(room, wanted)
        if message is not None and self._on_board == (room, panel, receiver.seq) and self._ink_here is not None:
            self._ink_here(message)

    def _cached(self, origin: str) -> str | None:
        store = self._media()
        room, _, media_id = origin.partition(":")
        if room == self.me and store.get(media_id) is not None:
            return media_id  # our own picture, shown by the hub: nothing to fetch
        for item in store.all():
            if item.meta.get(ORIGIN_KEY) == origin:
                return item.id
        return None

    async def _local_copy(self, room: str, media: dict[str, Any]) -> str:
        origin = media.get("origin") or f"{room}:{media['id']}"
        local = self._cached(origin)
        if local is not None:
            return local
        jpeg = await self.transport.fetch_media(room, media["id"])
        meta = {"device": media.get("device"), "caption": media.get("caption") or "",
                "width": media.get("width"), "height": media.get("height"), "um_per_px": media.get("um_per_px"),
                "lesson": (self.invite or {}).get("lesson"), ORIGIN_KEY: origin, "linked_from": room}
        item = await asyncio.to_thread(self._media().save_capture, jpeg, meta)
        return item.id

    # --- the live microscope --------------------------------------------------------------------------
    def _live_for(self, content: dict[str, Any]) -> None:
        """Hub: send frames while a panel shows a microscope's stream, and only then."""
        device = content.get("device") if content.get("kind") == "stream" else None
        if self._live_task is not None:
            self._live_task.cancel()
            self._live_task = None
            self.live_sender = None
        if device is None or self._frame is None:
            return
        frame = self._frame
        self.live_sender = LiveSender(lambda: frame(str(device)),
                                      lambda payload: self.transport.send_live(str(device), payload))
        self._live_task = self._spawn(self.live_sender.run())

    def _live_arrived(self, room: str, device: str, payload: bytes) -> None:
        live = self.live
        if live is None or (live.room, live.device) != (room, device):
            return
        seq = live.got(payload)
        if seq is not None:
            self._spawn(self.transport.ack_live(device, seq))

    def _stop_receiving(self) -> None:
        if self.live is not None:
            self.transport.unfollow_live(self.live.room, self.live.device)
            self.live = None

    # --- either direction: a linked room offers a picture to the hub ----------------------------------
    async def offer(self, media_id: str) -> dict[str, Any]:
        if self.role != "linked" or self.invite is None:
            raise RequestError("not_linked", "this classroom is not in a linked lesson as a linked room")
        described = await self._send_media(media_id)
        if described is None:
            raise RequestError("unknown_media", f"no media {media_id!r} in this classroom's store")
        jpeg = await asyncio.to_thread(self._media().original_path(media_id).read_bytes)
        thumb = await asyncio.to_thread(offer_thumb, jpeg)
        self._seq += 1
        offer = {"seq": self._seq, "lesson": self.invite["lesson"], "media": described,
                 "thumb": base64.b64encode(thumb).decode() if len(thumb) <= THUMB_MAX_BYTES else None}
        self._put("offer", "", offer)
        self.my_offer = {"seq": self._seq, "media": media_id, "state": "waiting"}
        return {"offered": offer}

    async def accept(self, room: str) -> dict[str, Any]:
        offer = self.offers.get(room)
        if self.role != "hub" or offer is None:
            raise RequestError("no_offer", f"{room} has offered nothing to show")
        self._taken.add((room, offer["seq"]))
        self.offers.pop(room, None)
        try:
            local = await self._local_copy(room, offer["media"])
            await self._show_here({"media": local})
        except BaseException:
            self._taken.discard((room, offer["seq"]))
            self.offers.setdefault(room, offer)  # still there to accept again
            raise
        self._answer(room, offer, "shown")
        return {"media": local, "from": room}

    def dismiss(self, room: str) -> dict[str, Any]:
        """The hub's teacher says no: the offer goes from her remote, and the room is told."""
        offer = self.offers.get(room)
        if self.role != "hub" or offer is None:
            raise RequestError("no_offer", f"{room} has offered nothing to show")
        self._taken.add((room, offer["seq"]))
        self.offers.pop(room, None)
        self._answer(room, offer, "dismissed")
        return {"dismissed": room}

    def _answer(self, room: str, offer: dict[str, Any], state: str) -> None:
        assert self.invite is not None
        self._answered.add(room)
        self._put("answer", room, {"lesson": self.invite["lesson"], "seq": offer["seq"], "state": state})

    # --- housekeeping --------------------------------------------------------------------------------
    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("linked lesson: %s", task.exception())

    def _save(self) -> None:
        data = {"invite": self.invite, "seq": self._seq, "sent_media": sorted(self._sent_media), "left": self._left}
        tmp = self._file.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(self._file)
        except OSError as exc:  # the lesson goes on; only a restart would forget it
            log.warning("cannot keep the linked lesson: %s", exc)

    def _load(self) -> None:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = json.loads(self._file.read_text(encoding="utf-8"))
            self.invite = data["invite"]
            self._seq = int(data["seq"])
            self._sent_media = set(data["sent_media"])
            self._left = data.get("left")
        if self.invite is None:
            return
        if self.role == "hub":
            for room in self.invite["rooms"]:
                self.transport.follow(room, boards=False, offers=True)
        else:
            self.transport.follow(self.invite["hub"], boards=True)
            self.transport.want_ink_state(self.invite["hub"], True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
