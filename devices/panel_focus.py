"""Who may replace a panel's board: the teacher, or the device she handed it to.

The teacher's `show` always wins and takes the board back; a handed device (a globe, a tablet's
ink, a touch table) replaces the board until `take_back`; any other device's output becomes a
small note in the board's corner, so the class sees it is alive without losing the lesson.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from classroomd.core.timestamps import now_iso
from classroomd.devices.base import Device, Kind, NoArgs, RequestError, action
from classroomd.devices.panel_content import ShowArgs, board_content

#: Who holds the board when no device was handed it.
TEACHER = "teacher"
#: The kinds the teacher may hand the board to: they put their own content on it.
HANDABLE = (Kind.GLOBE, Kind.TABLET, Kind.TOUCH_TABLE)
#: The same note from a device at most once a second: a pen sends dozens of batches a second.
NOTE_EVERY_S = 1.0
HANDED_TEXT = {"kk": "Панель осы құрылғыға берілді", "ru": "Панель передана этому устройству",
               "en": "The panel is handed to this device"}
DRAWING_TEXT = {"kk": "сызып жатыр", "ru": "рисует", "en": "is drawing"}


class HandArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str = Field(min_length=1, description="a globe, a tablet (its ink) or a touch table of this classroom")



@runtime_checkable
class FocusSource(Protocol):
    """A device with something of its own to show the moment it is handed the board (a globe's last country)."""

    def focus_content(self) -> dict[str, Any] | None:
        """`show` arguments, or None for a plain "handed to" card."""


class BoardFocus(Device):
    """The focus half of a panel: who holds its board, handing it over and taking it back."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The teacher's, or the id of the device the teacher handed the board to.
        self.focus: str = TEACHER
        self.focus_since: str = now_iso()
        #: What the teacher had on the board when handing it over: `take_back` shows it again.
        self.teacher_content: dict[str, Any] | None = None
        self._noted: dict[str, tuple[object, float]] = {}

    async def _deliver(self, content: dict[str, Any]) -> dict[str, Any]:
        """Put `content` on the panel's board (waking the panel first where it can)."""
        raise NotImplementedError

    def _notes_s(self) -> float:
        """How long a note stays in the board's corner; 0: no notes."""
        raise NotImplementedError

    def _content(self, args: ShowArgs) -> dict[str, Any]:
        return board_content(self.host, self.id, args)

    def focus_state(self) -> dict[str, Any]:
        if self.focus == TEACHER:
            return {"holder": TEACHER, "since": self.focus_since}
        device = self.host.device(self.focus) if self._host is not None else None
        return {"holder": self.focus, "kind": str(device.kind) if device else None,
                "name": device.name if device else self.focus, "since": self.focus_since}

    def _set_focus(self, holder: str) -> None:
        self.focus, self.focus_since = holder, now_iso()
        self.changed()
        self.host.emit(self, "focus", self.focus_state())

    @action("hand", HandArgs, "Hand the board to a device (a globe, a tablet's ink, a touch table): what it sends "
                              "replaces the board until `take_back` or the teacher's next `show`.")
    async def hand(self, args: HandArgs) -> dict[str, Any]:
        device = self.host.device(args.device)
        if device is None:
            raise RequestError("unknown_device", f"no device {args.device!r} in this classroom")
        if device.kind not in HANDABLE:
            raise RequestError("invalid_arguments", f"{device.id} is a {device.kind}; the board can be handed to "
                                                    "a globe, a tablet or a touch table")
        own = device.focus_content() if isinstance(device, FocusSource) else None
        shown = ShowArgs.model_validate(own or {"card": {"type": "text", "title": device.name,
                                                         "text": HANDED_TEXT}})
        before = self.host.board.current(self.id) if self.focus == TEACHER else self.teacher_content
        result = await self._deliver(self._content(shown))  # a board that is not there: nothing changes
        if "attach" in device.actions() and device.snapshot().get("attached_panel") != self.id:
            await device.request("attach", {"panel": self.id})  # handed the board, its ink must reach it
        self.teacher_content = before
        self._set_focus(device.id)
        return {**result, "focus": self.focus_state()}

    @action("take_back", NoArgs, "Take the board back for the teacher: what the teacher showed before `hand` "
                                 "returns.")
    async def take_back(self, _args: NoArgs) -> dict[str, Any]:
        if self.focus == TEACHER:
            return {"focus": self.focus_state(), "content": self.host.board.current(self.id)}
        content = self.teacher_content or self._content(ShowArgs(clear=True))
        result = await self._deliver(content)
        self.teacher_content = None
        self._set_focus(TEACHER)
        return {**result, "focus": self.focus_state()}

    async def offer(self, device: Device, show: dict[str, Any], about: dict[str, str] | str) -> bool:
        """A device asks for the board: shown when it holds the focus, else a note in the board's corner.

        `about` is what the note says the device did (a country's names); False means not shown.
        """
        if self.focus != device.id:
            self.note(device, about)
            return False
        await self._deliver(self._content(ShowArgs.model_validate(show)))
        return True

    def note(self, device: Device | str, about: dict[str, str] | str) -> None:
        """A small note that passes by itself: the class sees the pupil's device is alive, the board stays."""
        source = device if isinstance(device, str) else device.id
        now = time.monotonic()
        said, when = self._noted.get(source, (None, float("-inf")))
        if self._notes_s() <= 0 or (said == about and now - when < NOTE_EVERY_S):
            return
        self._noted[source] = (about, now)
        self.host.board.send(self.id, {"type": "note", "source": source,
                                       "title": source if isinstance(device, str) else device.name,
                                       "text": about, "ttl_s": self._notes_s()})

    def _admit(self, message: dict[str, Any]) -> bool:
        """The board hub's gate: ink reaches the board from the holder, or from anyone over the teacher's content.

        A tablet drawing over the teacher's capture is part of the teacher's lesson, so it passes; over a
        device the board was handed to, another device's ink would be a takeover, so it becomes a note.
        """
        source = message.get("source")
        if message.get("type") != "ink" or not isinstance(source, str) or self.focus in (TEACHER, source):
            return True
        self.note(self.host.device(source) or source, DRAWING_TEXT)
        return False
