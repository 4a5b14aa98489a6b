"""The lesson boards: web pages on panels, each holding a WebSocket to the daemon.

Content is pushed by reference (a media URL, a stream URL, a small card), never
as pixels, so a push costs a few hundred bytes however large the picture is.
A `show` waits until one board of the panel says it is on screen; the last
shown content is kept on disk so a reloaded or restarted board shows it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classroomd.core.vocabulary import RequestError

log = logging.getLogger("classroomd.board")

PANEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: A board that cannot keep up loses the oldest queued messages (ink), never the connection.
QUEUE_LIMIT = 512
#: Whether a device's message (ink) may reach a panel's boards now; the panel decides by its focus.
Gate = Callable[[dict[str, Any]], bool]


@dataclass(eq=False)
class BoardConnection:
    """One connected board page; the WebSocket handler drains `outgoing`."""

    panel_id: str
    outgoing: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    dropped: int = 0

    def put(self, message: dict[str, Any]) -> None:
        while True:
            try:
                self.outgoing.put_nowait(message)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.outgoing.get_nowait()
                    self.dropped += 1


class BoardHub:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._boards: dict[str, set[BoardConnection]] = {}
        self._pending: dict[int, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._ids = itertools.count(1)
        self._current: dict[str, dict[str, Any] | None] = {}
        self._gates: dict[str, Gate] = {}
        #: told of every show (panel, content) once it is the panel's content: a linked lesson mirrors it
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        #: told of every device message (ink) the panel's gate let through: a linked lesson mirrors the ink
        self.ink_observers: list[Callable[[str, dict[str, Any]], None]] = []

    # --- connections (used by web/board.py) ----------------------------------------------------------
    def attach(self, panel_id: str) -> BoardConnection:
        connection = BoardConnection(panel_id)
        self._boards.setdefault(panel_id, set()).add(connection)
        log.info("board connected for %s (%d now)", panel_id, self.connected(panel_id))
        return connection

    def detach(self, connection: BoardConnection) -> None:
        boards = self._boards.get(connection.panel_id)
        if boards is not None:
            boards.discard(connection)
            if not boards:
                del self._boards[connection.panel_id]
        log.info("board disconnected for %s (%d left)", connection.panel_id, self.connected(connection.panel_id))

    def received(self, connection: BoardConnection, message: dict[str, Any]) -> None:
        """A message from a board page: acknowledgements of shows."""
        kind = message.get("type")
        if kind not in ("ack", "nack"):
            return
        try:
            show_id = int(message.get("id", -1))
        except (TypeError, ValueError, OverflowError):  # OverflowError: `Infinity` is valid to json.loads
            return
        pending = self._pending.get(show_id)
        if pending is None or pending[0] != connection.panel_id or pending[1].done():
            return
        if kind == "ack":
            pending[1].set_result(message)
        else:
            pending[1].set_exception(RequestError(
                "board_failed", f"the board of {connection.panel_id} could not show it: "
                f"{message.get('error') or 'no reason given'}"))

    # --- the shared interface ------------------------------------------------------------------------
    def connected(self, panel_id: str) -> int:
        return len(self._boards.get(panel_id, ()))

    def current(self, panel_id: str) -> dict[str, Any] | None:
        if panel_id not in self._current:
            self._current[panel_id] = self._load(panel_id)
        return self._current[panel_id]

    def set_gate(self, panel_id: str, gate: Gate | None) -> None:
        """Let the panel hold back what devices send its boards (the hub knows no focus)."""
        if gate is None:
            self._gates.pop(panel_id, None)
        else:
            self._gates[panel_id] = gate

    def send(self, panel_id: str, message: dict[str, Any]) -> int:
        """Fire-and-forget to every board of the panel (ink strokes); how many got it queued."""
        gate = self._gates.get(panel_id)
        if gate is not None and not gate(message):
            return 0
        for observe in self.ink_observers:
            observe(panel_id, message)
        boards = list(self._boards.get(panel_id, ()))
        for board in boards:
            board.put(message)
        return len(boards)

    async def show(self, panel_id: str, content: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        boards = list(self._boards.get(panel_id, ()))
        if not boards:
            raise RequestError(
                "board_not_connected",
                f"no lesson board is open for panel {panel_id}: open /board?panel={panel_id} "
                "in the panel's browser (kiosk mode)")
        show_id = next(self._ids)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[show_id] = (panel_id, waiter)
        self._remember(panel_id, content)
        for observe in self.observers:
            observe(panel_id, content)
        message = {"type": "show", "id": show_id, "content": content}
        for board in boards:
            board.put(message)
        try:
            ack = await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            raise RequestError(
                "board_timeout",
                f"{len(boards)} board(s) of panel {panel_id} got the content but none confirmed "
                f"showing it within {timeout:g}s") from None
        finally:
            self._pending.pop(show_id, None)
            if not waiter.done():
                waiter.cancel()
        return {"id": show_id, "boards": len(boards), **{k: v for k, v in ack.items() if k not in ("type", "id")}}

    # --- persistence ---------------------------------------------------------------------------------
    def _path(self, panel_id: str) -> Path:
        if not PANEL_ID_RE.match(panel_id):
            raise RequestError("invalid_panel", f"{panel_id!r} is not a device id")
        return self.root / f"{panel_id}.json"

    def _load(self, panel_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(panel_id).read_text(encoding="utf-8"))
        except (OSError, ValueError, RequestError):
            return None
        return data if isinstance(data, dict) and data else None

    def _remember(self, panel_id: str, content: dict[str, Any]) -> None:
        self._current[panel_id] = content
        path = self._path(panel_id)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:  # the board still shows it; only a reload would miss it
            log.warning("cannot keep the board content of %s: %s", panel_id, exc)
