"""Tablet ink across a linked lesson's link: small vector batches live, and the ink as it is now after a drop.

The hub's tablets send their strokes to the hub's own boards some 30 times a second as JSON; over a rural
link that would be wasteful, so the hub batches them (every `BATCH_S`), quantises each point to 4 bytes
(x and y to 1/4096 of the tablet's area, pressure to 1/255) and sends a binary batch at QoS 0. A lost
batch is never resent: the receiver sees the gap in the batch numbers and takes the retained snapshot
of the ink as it is now (published at most every `SNAPSHOT_S`), the same as after a reconnect. Ink
belongs to one board state (the hub's board `seq`): a new show starts over with no ink.

Wire format (big-endian): a header `seq u32, batch u32, flags u8` (1: clear first, 2: a snapshot), then
per stroke `key u16, first point index u16, r g b u8, width×4 u8, aspect×1000 u16, final u8, count u16`
and `count` points of `x:12 y:12 pressure:8` bits.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BATCH_S = 0.15
SNAPSHOT_S = 1.0
#: The snapshot's bound (4 bytes a point, ~64 KB): beyond it the oldest strokes leave the snapshot
#: (rooms that stayed connected still show them).
MAX_POINTS = 16_000
#: Live batches kept by a receiver to replay over a snapshot older than them.
RECENT = 64

HEADER = struct.Struct("!IIB")
CHUNK = struct.Struct("!HHBBBBHBH")
POINT = struct.Struct("!I")
CLEAR, SNAPSHOT = 1, 2
SOURCE = "linked"


def _q(value: float, top: int) -> int:
    return max(0, min(top, round(float(value) * top)))


def quantise(point: Any) -> int:
    x, y = float(point[0]), float(point[1])
    p = float(point[2]) if len(point) > 2 else 0.5
    return _q(x, 4095) << 20 | _q(y, 4095) << 8 | _q(p, 255)


def unquantise(packed: int) -> list[float]:
    return [round((packed >> 20) / 4095, 4), round((packed >> 8 & 0xFFF) / 4095, 4), round((packed & 0xFF) / 255, 3)]


def _colour(text: Any) -> tuple[int, int, int]:
    try:
        value = int(str(text).lstrip("#")[:6], 16)
    except ValueError:
        value = 0xE53935
    return value >> 16 & 0xFF, value >> 8 & 0xFF, value & 0xFF


@dataclass
class Stroke:
    key: int
    colour: tuple[int, int, int]
    width: float
    aspect: float
    points: list[int] = field(default_factory=list)
    final: bool = False

    def board(self, start: int = 0) -> dict[str, Any]:
        """The stroke from `start` as a board's ink entry, with the point before it so the segments join."""
        return {"id": f"{SOURCE}-{self.key}", "points": [unquantise(p) for p in self.points[max(0, start - 1):]],
                "color": "#{:02x}{:02x}{:02x}".format(*self.colour), "width": self.width, "aspect": self.aspect,
                "final": self.final}


@dataclass
class Chunk:
    stroke: Stroke
    start: int
    points: list[int]


@dataclass
class Batch:
    seq: int
    number: int
    flags: int
    chunks: list[Chunk]


def encode(seq: int, number: int, flags: int, chunks: list[Chunk]) -> bytes:
    out = [HEADER.pack(seq, number, flags)]
    for chunk in chunks:
        s = chunk.stroke
        out.append(CHUNK.pack(s.key & 0xFFFF, min(chunk.start, 0xFFFF), *s.colour, min(255, round(s.width * 4)),
                              min(0xFFFF, round(s.aspect * 1000)), int(s.final), len(chunk.points)))
        out.append(b"".join(POINT.pack(p) for p in chunk.points))
    return b"".join(out)


def decode(payload: bytes) -> Batch | None:
    """A batch, or None when the payload is not one (a receiver ignores it)."""
    try:
        seq, number, flags = HEADER.unpack_from(payload)
        offset, chunks = HEADER.size, []
        while offset < len(payload):
            key, start, r, g, b, width, aspect, final, count = CHUNK.unpack_from(payload, offset)
            offset += CHUNK.size
            points = [POINT.unpack_from(payload, offset + i * 4)[0] for i in range(count)]
            offset += count * 4
            stroke = Stroke(key, (r, g, b), width / 4, aspect / 1000, final=bool(final))
            chunks.append(Chunk(stroke, start, points))
    except struct.error:
        return None
    return Batch(seq, number, flags, chunks)


@dataclass
class _PanelInk:
    seq: int
    strokes: dict[int, Stroke] = field(default_factory=dict)
    #: (tablet, its stroke id) → our key
    keys: dict[tuple[str, int], int] = field(default_factory=dict)
    #: stroke key → the first point not yet sent live
    unsent: dict[int, int] = field(default_factory=dict)
    cleared: bool = False
    number: int = 0
    snapshot_at: float = 0.0
    snapshot_due: bool = False

    def total(self) -> int:
        return sum(len(s.points) for s in self.strokes.values())


class InkSender:
    """The hub: tablet ink on a mirrored board, out as batches and snapshots.

    `send(panel, payload)` publishes a live batch (QoS 0, fire and forget); `keep(panel, payload)` makes it
    the panel's retained snapshot.
    """

    def __init__(self, send: Callable[[str, bytes], None], keep: Callable[[str, bytes], None]) -> None:
        self._send, self._keep = send, keep
        self._panels: dict[str, _PanelInk] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._snapshot_timer: asyncio.TimerHandle | None = None
        self.sent_bytes = 0

    def board_changed(self, panel: str, seq: int) -> None:
        """A new show on the panel: its ink starts over (and the snapshot says so)."""
        self._panels[panel] = _PanelInk(seq)
        self._keep(panel, encode(seq, 0, SNAPSHOT, []))

    def forget(self) -> None:
        self._panels.clear()
        for timer in (self._timer, self._snapshot_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._snapshot_timer = None

    def drawn(self, panel: str, message: dict[str, Any]) -> None:
        """A tablet's ink message as the hub's boards got it."""
        ink = self._panels.get(panel)
        if ink is None:  # nothing mirrored on this panel yet: the ink belongs to no linked board
            return
        source = str(message.get("source") or "")
        if message.get("clear"):
            ink.strokes.clear()
            ink.keys.clear()
            ink.unsent.clear()
            ink.cleared = True
        aspect = float(message.get("aspect") or 0)
        for entry in message.get("strokes") or []:
            if not isinstance(entry, dict):
                continue
            key = ink.keys.get((source, int(entry.get("id") or 0)))
            if key is None:
                key = len(ink.keys) + 1
                ink.keys[(source, int(entry.get("id") or 0))] = key
                ink.strokes[key] = Stroke(key, _colour(entry.get("color")), float(entry.get("width") or 3),
                                          float(entry.get("aspect") or aspect))
            stroke = ink.strokes.get(key)
            if stroke is None:  # dropped from a full snapshot
                continue
            points = [quantise(p) for p in entry.get("points") or [] if isinstance(p, list | tuple) and len(p) >= 2]
            if stroke.points and points and points[0] == stroke.points[-1]:
                points = points[1:]  # the tablet repeats the joint point of its batches
            ink.unsent.setdefault(key, len(stroke.points))
            stroke.points.extend(points)
            stroke.final = stroke.final or bool(entry.get("final"))
        self._bound(ink)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BATCH_S, self._flush)

    def _bound(self, ink: _PanelInk) -> None:
        while ink.total() > MAX_POINTS and len(ink.strokes) > 1:
            oldest = min(ink.strokes)
            del ink.strokes[oldest]
            ink.unsent.pop(oldest, None)

    def _flush(self) -> None:
        self._timer = None
        for panel, ink in self._panels.items():
            if not ink.unsent and not ink.cleared:
                continue
            chunks = [Chunk(ink.strokes[k], start, ink.strokes[k].points[start:])
                      for k, start in ink.unsent.items() if k in ink.strokes]
            ink.number += 1
            payload = encode(ink.seq, ink.number, CLEAR if ink.cleared else 0, chunks)
            ink.unsent.clear()
            ink.cleared = False
            self.sent_bytes += len(payload)
            self._send(panel, payload)
            ink.snapshot_due = True
        self._snapshots()

    def _snapshots(self) -> None:
        """Keep each panel's snapshot at most every SNAPSHOT_S, and always once the drawing stops."""
        self._snapshot_timer = None
        now = time.monotonic()
        wait = 0.0
        for panel, ink in self._panels.items():
            if not ink.snapshot_due:
                continue
            if now - ink.snapshot_at >= SNAPSHOT_S:
                ink.snapshot_due = False
                ink.snapshot_at = now
                self._keep(panel, encode(ink.seq, ink.number, SNAPSHOT,
                                         [Chunk(s, 0, s.points) for s in ink.strokes.values()]))
            else:
                wait = max(wait, SNAPSHOT_S - (now - ink.snapshot_at))
        if wait and self._snapshot_timer is None:
            self._snapshot_timer = asyncio.get_running_loop().call_later(wait, self._snapshots)


class InkReceiver:
    """A linked room: the hub's ink for one of its panels, and what its own boards should draw of it."""

    def __init__(self) -> None:
        self.seq = 0
        self.upto = 0
        self.strokes: dict[int, Stroke] = {}
        #: a snapshot is needed: after a reconnect (0) or since a gap before this batch number
        self.wanted: int | None = 0
        self._recent: list[Batch] = []

    def live(self, batch: Batch) -> dict[str, Any] | None:
        """Apply a live batch; the board message that draws what it added (None: nothing to draw)."""
        if batch.seq < self.seq:
            return None
        if batch.seq > self.seq:
            self._reset(batch.seq)
        if batch.number != self.upto + 1 and self.wanted is None:
            self.wanted = batch.number
        self.upto = max(self.upto, batch.number)
        self._recent = [*self._recent[-(RECENT - 1):], batch]
        return self._apply(batch)

    def snapshot(self, batch: Batch) -> dict[str, Any] | None:
        """A retained snapshot: the whole ink to draw when it makes this room current, else None."""
        if self.wanted is None or batch.seq < self.seq:
            return None
        if batch.seq == self.seq and self.wanted and batch.number < self.wanted - 1:
            return None  # older than the gap: the hub keeps a newer one within SNAPSHOT_S
        recent = [b for b in self._recent if b.seq == batch.seq and b.number > batch.number]
        self._reset(batch.seq)
        self.upto = batch.number
        self._apply(batch)
        for later in recent:
            self._apply(later)
            self.upto = max(self.upto, later.number)
        self._recent = recent
        self.wanted = None
        return self.board()

    def board(self) -> dict[str, Any]:
        """Everything, drawn afresh (the board's other ink goes: the hub's board is the truth)."""
        return {"type": "ink", "source": SOURCE, "clear": True, "strokes": [s.board() for s in self.strokes.values()]}

    def reconnected(self) -> None:
        self.wanted = 0

    def _reset(self, seq: int) -> None:
        self.seq, self.upto, self.strokes, self._recent = seq, 0, {}, []

    def _apply(self, batch: Batch) -> dict[str, Any] | None:
        if batch.flags & CLEAR:
            self.strokes.clear()
        drawn = []
        for chunk in batch.chunks:
            stroke = self.strokes.get(chunk.stroke.key)
            if stroke is None:
                stroke = self.strokes[chunk.stroke.key] = Stroke(chunk.stroke.key, chunk.stroke.colour,
                                                                 chunk.stroke.width, chunk.stroke.aspect)
            if chunk.start > len(stroke.points) and self.wanted is None:
                self.wanted = batch.number  # a batch of this stroke was lost
            start = min(chunk.start, len(stroke.points))
            stroke.points[start:start + len(chunk.points)] = chunk.points
            stroke.final = chunk.stroke.final
            if chunk.points:
                entry = stroke.board(start)
                entry["points"] = entry["points"][:len(chunk.points) + (1 if start else 0)]
                drawn.append(entry)
        if not drawn and not batch.flags & CLEAR:
            return None
        return {"type": "ink", "source": SOURCE, "clear": bool(batch.flags & CLEAR), "strokes": drawn}
