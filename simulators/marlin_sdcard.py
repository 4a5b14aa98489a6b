"""The simulated board's SD card: files, free space, and the printer's wording for each card command.

Marlin's `cardreader.cpp` is the model: `M28` opens a file for writing and every
later command line is written to it (the line number and checksum stripped,
`\\r\\n` appended) until `M29`; `M20` lists `NAME.GCO size`; `M23` selects,
`M24` starts or resumes, `M25` pauses, `M27` reports `SD printing byte n/size`
(also while paused) or `Not SD printing`, `M524` aborts, `M30` deletes. A card
that is missing says nothing to `M28` (Marlin returns silently), so a host that
does not check for `Writing to file:` would have its G-code run instead of saved.
The card outlives board resets: it is hardware.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SdCard:
    present: bool = True
    capacity: int = 32 * 1024 * 1024
    files: dict[str, bytearray] = field(default_factory=dict)

    def used(self) -> int:
        return sum(len(data) for data in self.files.values())


class CardReader:
    """What the firmware does with the card; lives as long as the board (a reset makes a new one)."""

    def __init__(self, card: SdCard, say: Callable[[str], None]) -> None:
        self.card = card
        self._say = say
        #: The file `M28` is writing, and whether a write has failed (card full).
        self.saving: str | None = None
        self.write_failed = False
        self.selected: str | None = None
        self.position = 0
        self.printing = False
        self.mounted = card.present

    # --- writing ----------------------------------------------------------------------------
    def begin_write(self, name: str) -> None:
        if not self.mounted:
            return  # Marlin's openFileWrite returns silently without a mounted card
        name = name.strip().upper()
        if not name or len(name.split(".")[0]) > 8:
            self._say(f"open failed, File: {name}.")
            return
        self.card.files[name] = bytearray()
        self.saving, self.write_failed = name, False
        self._say(f"Writing to file: {name}")

    def write(self, command: str) -> None:
        assert self.saving is not None
        data = command.encode("latin-1") + b"\r\n"
        if self.card.used() + len(data) > self.card.capacity:
            self.write_failed = True
            self._say("Error:error writing to file")
            return
        self.card.files[self.saving] += data

    def end_write(self) -> None:
        self.saving = None
        self._say("Done saving file.")

    # --- reading and printing -----------------------------------------------------------------
    def mount(self) -> None:
        self.mounted = self.card.present
        self._say("echo:SD card ok" if self.mounted else "echo:SD init fail")

    def listing(self) -> None:
        self._say("Begin file list")
        if self.mounted:
            for name, data in sorted(self.card.files.items()):
                self._say(f"{name} {len(data)}")
        self._say("End file list")

    def select(self, name: str) -> None:
        name = name.strip().upper()
        if not self.mounted or name not in self.card.files:
            self._say(f"open failed, File: {name}.")
            return
        self.selected, self.position, self.printing = name, 0, False
        self._say(f"File opened: {name} Size: {len(self.card.files[name])}")
        self._say("File selected")

    def start(self) -> None:
        if self.selected is not None:
            self.printing = True

    def pause(self) -> None:
        self.printing = False

    def abort(self) -> None:
        self.selected, self.printing, self.position = None, False, 0

    def status(self, current_file: bool) -> None:
        if current_file:
            self._say(f"Current file: {self.selected}" if self.selected else "Current file: (no file)")
        elif self.selected is not None:
            self._say(f"SD printing byte {self.position}/{len(self.card.files[self.selected])}")
        else:
            self._say("Not SD printing")

    def delete(self, name: str) -> None:
        name = name.strip().upper()
        if self.mounted and self.card.files.pop(name, None) is not None:
            self._say(f"File deleted:{name}")
        else:
            self._say(f"Deletion failed, File: {name}.")

    def next_line(self) -> str | None:
        """The next line of the file being printed (comments and blanks included), or None at its end."""
        if self.selected is None:
            return None
        data = self.card.files.get(self.selected, bytearray())
        if self.position >= len(data):
            return None
        end = data.find(b"\n", self.position)
        end = len(data) if end < 0 else end + 1
        line = bytes(data[self.position:end]).decode("latin-1")
        self.position = end
        return line

    def finished(self) -> None:
        self.selected, self.printing = None, False
        self._say("Done printing file")
