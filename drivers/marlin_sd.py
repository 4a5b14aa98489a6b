"""The printer's own SD card over Marlin's serial protocol: names, listing, upload, start, status, abort.

A print from the card outlives the host: the PC can be shut down, the daemon killed or
the USB cable pulled, and the printer goes on. The upload is Marlin's ASCII one: `M28 NAME`
opens the file, every later numbered line is written to it (so line numbers and checksums
protect each line exactly as in a streamed print, and resends work unchanged), `M29` closes
it. Marlin writes each command followed by `\\r\\n`, which is how the size the card listing
shows is predicted and checked before anything is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import unicodedata
from collections.abc import Callable, Collection, Sequence
from pathlib import PurePath

from classroomd.core.vocabulary import CodedError
from classroomd.drivers.marlin import MarlinError, MarlinPort

SD_STATUS_RE = re.compile(r"SD printing byte (\d+)\s*/\s*(\d+)", re.IGNORECASE)
NAME_CHARS_RE = re.compile(r"[^A-Z0-9_-]")
#: Card replies are quick; the time-out only guards against a printer that stopped answering.
REPLY_TIMEOUT_S = 10.0
#: `Not SD printing`, as `parse_status` reports it.
NOT_PRINTING = (-1, -1)


class CardError(CodedError):
    """The card cannot take or print this job; nothing was started on the printer."""


def card_name(file_name: str, taken: Collection[str]) -> str:
    """A free 8.3 name: FAT short names are what every Marlin opens with `M23`, whatever its build.

    A file already on the card is never overwritten (it may be someone else's, started from
    the printer's own menu); the name gets `~1`, `~2` … as Windows does.
    """
    folded = unicodedata.normalize("NFKD", PurePath(file_name).stem).encode("ascii", "ignore").decode()
    base = NAME_CHARS_RE.sub("", folded.upper())[:8] or "PRINT"
    existing = {t.upper() for t in taken}
    candidate = f"{base}.GCO"
    counter = 0
    while candidate in existing:
        counter += 1
        if counter > 999:
            raise CardError("card_names_exhausted", f"the card already holds 1000 files named like {base}.GCO")
        suffix = f"~{counter}"
        candidate = f"{base[:8 - len(suffix)]}{suffix}.GCO"
    return candidate


def card_offsets(commands: Sequence[str]) -> list[int]:
    """The card file's size up to and including each command, as Marlin writes them (`\\r\\n` after each)."""
    offsets: list[int] = []
    total = 0
    for command in commands:
        total += len(command.encode("latin-1", "replace")) + 2
        offsets.append(total)
    return offsets


def parse_status(lines: Sequence[str]) -> tuple[int, int] | None:
    """`SD printing byte n/size` as (n, size), `Not SD printing` as `NOT_PRINTING`.

    None when neither was among the lines: an `ok` that came back as the answer to a probe
    (a status request that waited behind a long move) carries no reply, and that says nothing.
    """
    for line in lines:
        match = SD_STATUS_RE.search(line)
        if match:
            return int(match.group(1)), int(match.group(2))
        if "not sd printing" in line.lower():
            return NOT_PRINTING
    return None


async def _ask(port: MarlinPort, command: str) -> list[str]:
    return await port.command(command, timeout=REPLY_TIMEOUT_S)


async def mount(port: MarlinPort) -> None:
    lines = await _ask(port, "M21")
    if not any("sd card ok" in line.lower() for line in lines):
        raise CardError("no_card", "the printer has no SD card, or cannot read it (it answered: "
                        f"{' / '.join(lines) or 'nothing'}); insert a card or print with print_from = \"stream\"")


async def listing(port: MarlinPort) -> dict[str, int]:
    files: dict[str, int] = {}
    inside = False
    for line in await _ask(port, "M20"):
        if line.startswith("Begin file list"):
            inside = True
        elif line.startswith("End file list"):
            inside = False
        elif inside:
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                files[parts[0].upper()] = int(parts[1])
    return files


async def status(port: MarlinPort) -> tuple[int, int] | None:
    return parse_status(await _ask(port, "M27"))


async def current_file(port: MarlinPort) -> str | None:
    """The file the printer has open (`M27 C`), or None."""
    for line in await _ask(port, "M27 C"):
        if line.startswith("Current file:"):
            words = line.split(":", 1)[1].split()
            return words[0].upper() if words and words[0] != "(no" else None
    return None


async def upload(port: MarlinPort, name: str, commands: Sequence[str],
                 on_progress: Callable[[int], None] | None = None) -> None:
    """Write `commands` to the card as `name`; on any failure the partial file is deleted."""
    write_errors: list[str] = []

    def watch(line: str) -> None:
        if "error writing to file" in line.lower() or "write error" in line.lower():
            write_errors.append(line)

    port.hold_polls = True
    port.listeners.append(watch)
    opened = False
    try:
        lines = await _ask(port, f"M28 {name}")
        opened = any(line.startswith("Writing to file") for line in lines)
        if not opened:
            # Marlin says nothing when no card is mounted: the lines that follow would be run, not saved.
            raise CardError("card_open_failed", f"the printer could not open {name} on its card for writing "
                            f"({' / '.join(lines) or 'no reply'})")
        stream = asyncio.ensure_future(port.stream(commands, on_progress))
        while not stream.done() and not write_errors:
            await asyncio.wait({stream}, timeout=0.1)
        if write_errors:
            stream.cancel()
            await asyncio.gather(stream, return_exceptions=True)
            raise CardError("card_full", f"the printer's SD card is full: it could not write {name} "
                            f"({write_errors[0]}); delete old files from the card or print with "
                            "print_from = \"stream\"")
        await stream
    except BaseException:
        if opened:
            with contextlib.suppress(MarlinError, TimeoutError):
                await _ask(port, "M29")
                await _ask(port, f"M30 {name}")
        raise
    else:
        await _ask(port, "M29")
    finally:
        port.listeners.remove(watch)
        port.hold_polls = False


async def verify(port: MarlinPort, name: str, expected_size: int) -> None:
    """The size in the card's listing must be what was sent: a shorter file means lost lines."""
    size = (await listing(port)).get(name)
    if size != expected_size:
        with contextlib.suppress(MarlinError, TimeoutError):
            await _ask(port, f"M30 {name}")
        raise CardError("card_upload_failed", f"{name} on the card has {size if size is not None else 'no'} "
                        f"bytes, {expected_size} were sent; the file was deleted and nothing started")


async def start(port: MarlinPort, name: str) -> None:
    lines = await _ask(port, f"M23 {name}")
    if not any(line.startswith(("File opened", "File selected")) for line in lines):
        raise CardError("card_open_failed", f"the printer could not open {name} on its card "
                        f"({' / '.join(lines) or 'no reply'})")
    await _ask(port, "M24")


async def pause(port: MarlinPort) -> None:
    await _ask(port, "M25")


async def resume(port: MarlinPort) -> None:
    await _ask(port, "M24")


async def abort(port: MarlinPort) -> None:
    """`M524`; firmware without it (Marlin 1.1) is paused and rewound (`M25`, `M26 S0`), as OctoPrint does."""
    lines = await _ask(port, "M524")
    if any("unknown command" in line.lower() for line in lines):
        await _ask(port, "M25")
        await _ask(port, "M26 S0")
