"""The live microscope across a linked lesson's link: newest frame only, within a bitrate budget.

The sender has at most one frame on the link: it sends the newest frame, waits for the receiver's
acknowledgement, then waits out what the budget asks before the next. When the link stalls nothing
piles up (no acknowledgement, no next frame), and what arrives after is the newest picture, not a
backlog. Frame size (width, quality) follows the round trip: a frame that took long to arrive makes
the next one smaller, one that came quickly lets it grow, so frames stay fresh on a slow link.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from classroomd.core.vocabulary import RequestError

log = logging.getLogger("classroomd.linked")

LIVE_BUDGET_BPS = 500_000
MAX_FPS = 8.0
#: A frame whose acknowledgement takes longer than this is counted lost; the next one goes out anyway.
ACK_TIMEOUT_S = 5.0
#: A frame's round trip beyond the bare link's (its own transmission time): above SLOW the next frame
#: is made smaller, below FAST larger; and no round trip may exceed MAX_TRIP_S (frame age stays < 2 s).
SLOW_S, FAST_S, MAX_TRIP_S = 0.6, 0.2, 1.2
WIDTHS = (240, 320, 426, 512, 640, 800)
HEADER = struct.Struct("!QQ")  # sequence number, capture time in ms since the epoch


def pack(seq: int, wall: float, jpeg: bytes) -> bytes:
    return HEADER.pack(seq, int(wall * 1000)) + jpeg


def unpack(payload: bytes) -> tuple[int, float, bytes] | None:
    if len(payload) <= HEADER.size:
        return None
    seq, wall_ms = HEADER.unpack_from(payload)
    jpeg = payload[HEADER.size:]
    return (seq, wall_ms / 1000, jpeg) if jpeg[:2] == b"\xff\xd8" else None


class LiveSender:
    def __init__(self, frame: Callable[[], Awaitable[tuple[bytes, float]]], send: Callable[[bytes], Awaitable[bool]],
                 budget_bps: float = LIVE_BUDGET_BPS) -> None:
        self._frame, self._send = frame, send
        self.budget_bps = budget_bps
        self.seq = 0
        self.sent_bytes = 0
        self.lost = 0
        self.width_index, self.quality = 3, 65
        #: the bare round trip, learnt from the quickest frames (creeping up, so a slower route is learnt too)
        self.base_trip: float | None = None
        self._acked = asyncio.Event()

    def acked(self, seq: int) -> None:
        if seq == self.seq:
            self._acked.set()

    async def run(self) -> None:
        from classroomd.drivers.v4l_capture import scaled_jpeg

        while True:
            try:
                jpeg, wall = await self._frame()
            except (RequestError, OSError, TimeoutError) as exc:  # the microscope is away: try again shortly
                log.info("no live frame to send: %s", exc)
                await asyncio.sleep(1.0)
                continue
            frame = await asyncio.to_thread(scaled_jpeg, jpeg, WIDTHS[self.width_index], self.quality)
            self.seq += 1
            self._acked.clear()
            started = time.monotonic()
            if not await self._send(pack(self.seq, wall, frame)):
                await asyncio.sleep(1.0)  # the link is down; the next frame is the newest then
                continue
            self.sent_bytes += len(frame)
            try:
                await asyncio.wait_for(self._acked.wait(), ACK_TIMEOUT_S)
            except TimeoutError:
                self.lost += 1
            took = time.monotonic() - started
            self._adapt(took)
            await asyncio.sleep(max(0.0, len(frame) * 8 / self.budget_bps - took, 1 / MAX_FPS - took))

    def _adapt(self, took: float) -> None:
        self.base_trip = took if self.base_trip is None else min(took, self.base_trip + 0.002)
        extra = took - self.base_trip
        if extra > SLOW_S or took > MAX_TRIP_S:
            if self.quality > 45:
                self.quality -= 10
            elif self.width_index > 0:
                self.width_index -= 1
        elif extra < FAST_S:
            if self.width_index < len(WIDTHS) - 1:
                self.width_index += 1
            elif self.quality < 75:
                self.quality += 5


class LiveReceiver:
    """The newest frame from the hub, served by this room's own agent as MJPEG to its board."""

    def __init__(self, room: str, device: str) -> None:
        self.room, self.device = room, device
        self.seq = 0
        self.wall = 0.0
        self.jpeg: bytes | None = None
        self.frames = 0
        self._changed = asyncio.Event()

    def got(self, payload: bytes) -> int | None:
        unpacked = unpack(payload)
        if unpacked is None:
            return None
        self.seq, self.wall, self.jpeg = unpacked
        self.frames += 1
        self._changed.set()
        self._changed = asyncio.Event()
        return self.seq

    @property
    def age_s(self) -> float:
        return time.time() - self.wall

    async def stream(self) -> AsyncIterator[bytes]:
        """Each new frame as it arrives (the first at once when there is one)."""
        if self.jpeg is not None:
            yield self.jpeg
        while True:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 10)
            if self.jpeg is not None:
                yield self.jpeg
