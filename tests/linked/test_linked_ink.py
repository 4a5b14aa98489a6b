"""The hub's tablet ink on the magnet's board, across the shaped link: live batches, the snapshot after a cut,
and a new push that starts the ink over. The boards are the boards' own WebSockets."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from classroomd.daemon.agent import Agent
from classroomd.services.linked_ink import quantise, unquantise
from tests.linked.conftest import MAGNET, BoardSocket, Rooms, open_board, picture, push, until

pytestmark = pytest.mark.timeout(120)

RED, BLUE = (30, 30, 220), (220, 40, 30)  # BGR


def spiral(turn: float, n: int = 60) -> list[list[float]]:
    return [[round(0.5 + 0.3 * i / n * math.cos(i / 6 + turn), 4), round(0.5 + 0.3 * i / n * math.sin(i / 6 + turn), 4),
             0.6] for i in range(n)]


async def draw(agent: Agent, stroke_id: int, points: list[list[float]], per_batch: int = 3) -> None:
    """What a tablet sends its panel's boards (devices/tablet.py): batches ~30 a second, each repeating the
    joint point of the last, the stroke's end marked final."""
    last: list[float] | None = None
    for start in range(0, len(points), per_batch):
        part = points[start:start + per_batch]
        final = start + per_batch >= len(points)
        agent.board.send("panel-1", {"type": "ink", "source": "tablet-1", "aspect": 1.6, "strokes": [
            {"id": stroke_id, "points": ([last] if last else []) + part, "color": "#e53935", "width": 3.0,
             "final": final}]})
        last = part[-1]
        await asyncio.sleep(0.033)


def drawn(board: BoardSocket) -> dict[str, list[list[float]]]:
    """The ink the board would show now: strokes by id, points in order (a clear starts over)."""
    strokes: dict[str, list[list[float]]] = {}
    for message in board.ink():
        if message.get("clear"):
            strokes = {}
        for stroke in message["strokes"]:
            points = strokes.setdefault(stroke["id"], [])
            for point in stroke["points"]:
                if not points or point != points[-1]:
                    points.append(point)
    return strokes


def same(got: list[list[float]], sent: list[list[float]]) -> bool:
    expected = [unquantise(quantise(p)) for p in sent]
    return len(got) == len(expected) and all(
        abs(a[0] - b[0]) < 1e-3 and abs(a[1] - b[1]) < 1e-3 for a, b in zip(got, expected, strict=True))


async def shown_on_magnet(rooms: Rooms, seq: int) -> None:
    linked = rooms.magnet.linked
    assert linked is not None
    await until(lambda: linked._on_board is not None and linked._on_board[2] == seq, timeout=20,
                what=f"the hub's board {seq} on the magnet's board")


async def test_hub_ink_reaches_the_magnet_and_converges_after_a_cut(rooms: Rooms) -> None:
    async with BoardSocket(rooms.hub) as hub_board, BoardSocket(rooms.magnet) as magnet_board:
        await rooms.request(rooms.hub, "lesson_start", {"subject": "Биология", "teacher": "Айгүл", "linked": [MAGNET]})
        await until(lambda: rooms.magnet.lesson is not None, what="the magnet joined")
        await push(rooms.hub, picture(RED))
        await shown_on_magnet(rooms, 1)

        first, second, third = spiral(0), spiral(2), spiral(4)
        await draw(rooms.hub, 1, first)
        await until(lambda: same(drawn(magnet_board).get("linked-1", []), first), timeout=10,
                    what="the first stroke, live, on the magnet's board")
        assert len(hub_board.ink()) == math.ceil(len(first) / 3)  # the hub's own board got the tablet's messages
        # Small vector updates: a few batches, not the tablet's ~20 messages.
        live = [m for m in magnet_board.ink() if not m.get("clear")]
        assert 2 <= len(live) <= 12, len(live)

        # The magnet's link is cut while the hub draws on: after it is back, it shows the ink as it is now.
        await rooms.link.cut()
        await draw(rooms.hub, 2, second)
        await asyncio.sleep(1.2)  # the hub's snapshot is at most 1 s behind
        await rooms.link.restore()
        await until(lambda: set(drawn(magnet_board)) == {"linked-1", "linked-2"}
                    and same(drawn(magnet_board)["linked-2"], second), timeout=20,
                    what="both strokes on the magnet's board after the reconnect")
        assert same(drawn(magnet_board)["linked-1"], first)
        redrawn = [m for m in magnet_board.ink() if m.get("clear")]
        assert redrawn and {s["id"] for s in redrawn[-1]["strokes"]} == {"linked-1", "linked-2"}

        # A new push clears the ink (the board's own render does), and the snapshot starts over with it.
        await push(rooms.hub, picture(BLUE))
        await shown_on_magnet(rooms, 2)
        strokes_before = len(magnet_board.ink())
        await draw(rooms.hub, 3, third)
        # Stroke keys count from 1 on each board: this is the new board's first stroke.
        await until(lambda: same(drawn(magnet_board).get("linked-1", [])[-len(third):], third)
                    and len(magnet_board.ink()) > strokes_before, timeout=10, what="the third stroke")
        redraws = len([m for m in magnet_board.ink() if m.get("clear")])
        await rooms.link.cut()
        await asyncio.sleep(1.2)
        await rooms.link.restore()
        await until(lambda: len([m for m in magnet_board.ink() if m.get("clear")]) > redraws, timeout=20,
                    what="the ink redrawn from the snapshot after the second reconnect")
        magnet_linked: Any = rooms.magnet.linked
        receiver = magnet_linked._ink_in[("kz-hub/bio-7", "panel-1")]
        assert receiver.seq == 2 and [s.key for s in receiver.strokes.values()] == [1]
        last = [m for m in magnet_board.ink() if m.get("clear")][-1]["strokes"]
        assert [s["id"] for s in last] == ["linked-1"] and same(last[0]["points"], third)  # the old ink is gone


@pytest.mark.chromium
async def test_the_magnet_board_page_draws_the_hubs_ink(rooms: Rooms, browser: Any) -> None:
    page = await open_board(browser, rooms.magnet)
    async with BoardSocket(rooms.hub):
        await rooms.request(rooms.hub, "lesson_start", {"subject": "Биология", "teacher": "Айгүл", "linked": [MAGNET]})
        await until(lambda: rooms.magnet.lesson is not None, what="the magnet joined")
        await push(rooms.hub, picture(RED))
        await shown_on_magnet(rooms, 1)
        await page.wait_for_selector("#stage img.still")
        await draw(rooms.hub, 1, spiral(0))
        # The page's own canvas: strokes drawn, and red ink pixels where the hub's spiral is.
        await page.wait_for_function("() => Number(document.getElementById('ink').dataset.strokes) > 0")
        inked = await page.evaluate("""() => {
            const c = document.getElementById('ink');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
        assert inked > 200, inked
