"""The ink's wire format and a linked room's convergence rules, without a broker: what a lost batch asks for."""

from __future__ import annotations

import asyncio

from classroomd.services.linked_ink import CLEAR, SNAPSHOT, Batch, InkReceiver, InkSender, decode, unquantise


def stroke_message(stroke_id: int, points: list[list[float]], final: bool = False) -> dict[str, object]:
    return {"type": "ink", "source": "tablet-1", "aspect": 1.6,
            "strokes": [{"id": stroke_id, "points": points, "color": "#00ff80", "width": 4.0, "final": final}]}


async def sent_batches() -> tuple[list[bytes], dict[str, bytes]]:
    """Three batches of one stroke from a real InkSender (its own 150 ms timer), and its last snapshot."""
    live: list[bytes] = []
    kept: dict[str, bytes] = {}
    sender = InkSender(lambda _panel, payload: live.append(payload), kept.__setitem__)
    sender.board_changed("panel-1", 7)
    last = None
    for n in range(3):
        part = [[0.1 * n + 0.01 * i, 0.5, 0.5] for i in range(1, 4)]
        sender.drawn("panel-1", stroke_message(1, ([last] if last else []) + part, final=n == 2))
        last = part[-1]
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.1)  # the trailing snapshot
    sender.forget()
    return live, kept


async def test_batches_are_small_and_carry_each_point_once() -> None:
    live, kept = await sent_batches()
    batches = [decode(p) for p in live]
    assert all(isinstance(b, Batch) for b in batches) and [b.number for b in batches if b] == [1, 2, 3]
    # 9 header + 13 per stroke part + 4 per point; the joint point the tablet repeats is not sent again.
    assert [len(p) for p in live] == [9 + 13 + 3 * 4] * 3
    snapshot = decode(kept["panel-1"])
    assert snapshot is not None and snapshot.flags == SNAPSHOT and snapshot.seq == 7 and snapshot.number == 3
    points = [unquantise(p) for p in snapshot.chunks[0].points]
    assert len(points) == 9 and abs(points[4][0] - 0.12) < 1e-3 and snapshot.chunks[0].stroke.final
    assert snapshot.chunks[0].stroke.colour == (0, 255, 128) and snapshot.chunks[0].stroke.width == 4.0


async def test_a_lost_batch_waits_for_a_snapshot_that_covers_it() -> None:
    live, kept = await sent_batches()
    first, second, third = (decode(p) for p in live)
    assert first and second and third
    receiver = InkReceiver()
    receiver.wanted = None  # connected and current
    assert receiver.live(first) is not None
    drawn = receiver.live(third)  # the second was lost (QoS 0)
    assert drawn is not None and receiver.wanted == 3
    stale = Batch(7, 1, SNAPSHOT, first.chunks)
    assert receiver.snapshot(stale) is None and receiver.wanted == 3  # older than the gap: wait for the next
    board = receiver.snapshot(decode(kept["panel-1"]))  # type: ignore[arg-type]
    assert board is not None and board["clear"] and receiver.wanted is None
    assert len(board["strokes"]) == 1 and len(board["strokes"][0]["points"]) == 9


def test_a_clear_and_a_new_board_start_over() -> None:
    receiver = InkReceiver()
    receiver.wanted = None
    empty = Batch(3, 1, CLEAR, [])
    assert receiver.live(empty) == {"type": "ink", "source": "linked", "clear": True, "strokes": []}
    assert receiver.seq == 3
    assert receiver.live(Batch(2, 9, 0, [])) is None  # a batch of an older board is ignored
    assert decode(b"\x00\x01") is None  # not a batch: ignored, never an exception
