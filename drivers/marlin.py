"""The Marlin line protocol over a `SerialLink`: handshake, numbered lines, resends, flow control.

Every command goes out as `N<n> <cmd>*<xor>`; the firmware's line-number check
is what makes delivery exactly-once, so the host's job is to keep the numbers
right and to keep things moving:

* `ok` flow control, one line in flight; with `ADVANCED_OK` (`ok N<n> P<p> B<b>`)
  a send-ahead window as wide as the firmware's command buffer (learnt from the
  largest `B` seen, plus the line the `ok` is for), never wider, so the
  receive buffer is never over-filled.
* `Resend: n` rewinds to `n` from a history of recent lines. Lines that were
  already in flight answer with the same `Resend: n` (or vanish when the
  firmware flushes its receive buffer); those echoes are counted and not
  obeyed twice. Whether an `ok` follows a resend request is learnt from the
  first one. Repeated resends of one line end in a fault.
* Silence while lines are outstanding (no `ok`, no `busy:`) makes the host
  re-send its latest line as a probe: the firmware either runs it (the line
  was lost) or rejects it with `Resend: <its next line>` (an `ok` was lost),
  which tells exactly where it stands. Long commands get a long allowance.
* Error lines are sorted by `classify_error`: a refused line (whatever the
  firmware's wording) waits for its `Resend:`; a halt (`kill()`, `Printer
  halted`, thermal errors, `!!`, `fatal:`) and a `start` after the handshake
  stop all sending at once and are reported as faults; any other `Error:` is
  reported to `on_firmware_error` and the print goes on (if the firmware then
  falls silent, the time-outs end it). An `Error:` that the next line shows to
  be a resend request is never a halt, whatever its words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from classroomd.drivers.marlin_protocol import (
    OK_FIELD_RE,
    OK_NUMBER_RE,
    START_RE,
    ErrorKind,
    FirmwareInfo,
    Temperatures,
    classify_error,
    command_code,
    encode_line,
    parse_firmware_line,
    parse_resend,
    parse_temperatures,
)
from classroomd.drivers.serial_link import LinkClosed, SerialLink

log = logging.getLogger("classroomd.marlin")

LONG_COMMANDS = frozenset({"G28", "G29", "M109", "M190", "M400", "M600", "G4", "M303"})
DIGITS_RE = re.compile(r"\d+")


def _wording(text: str) -> str:
    """An error's words without its numbers, so one wording is recognised whatever line it names."""
    return DIGITS_RE.sub("#", text.strip().lower())


class MarlinError(Exception):
    """The printer cannot go on; the message says why, for a person."""


class PrinterHalted(MarlinError):
    pass


class BoardReset(MarlinError):
    pass


class ResendLimit(MarlinError):
    pass


class PrinterTimeout(MarlinError):
    pass


class PrinterLost(MarlinError):
    pass


class HandshakeFailed(MarlinError):
    pass


@dataclass
class MarlinSettings:
    #: How long to wait for the `start` a board prints after the DTR reset of opening the port.
    reset_wait_s: float = 3.0
    handshake_attempts: int = 5
    handshake_reply_s: float = 1.5
    #: Silence (no `ok`, no `busy:`) with lines outstanding before the latest line is re-sent as a probe.
    timeout_s: float = 5.0
    #: The same for long commands (homing, levelling, heating, waiting for moves).
    long_timeout_s: float = 600.0
    #: Probes without any progress before the printer is declared unresponsive.
    max_probes: int = 3
    #: Times one line may be requested again before the link is declared too noisy.
    resend_cap: int = 12
    send_ahead: bool = True
    max_window: int = 8
    history: int = 512
    autoreport_s: int = 2
    #: Without auto-report, how often `M105` asks for temperatures (between job lines).
    poll_s: float = 5.0
    #: How long an `Error:` with a halt's words waits (sending held) for a `Resend:` that would
    #: show it to be a refused line after all. Firmwares print the two back to back.
    halt_confirm_s: float = 0.25


@dataclass
class LinkStats:
    lines_sent: int = 0
    lines_resent: int = 0
    resend_requests: int = 0
    stale_resends: int = 0
    probes: int = 0
    oks: int = 0


@dataclass
class _Stream:
    commands: Sequence[str]
    done: asyncio.Future[None]
    on_progress: Callable[[int], None] | None
    next_index: int = 0
    confirmed: int = 0
    sent: int = 0
    resent: int = 0
    #: line number -> index in `commands`, for lines sent but not yet confirmed
    numbers: dict[int, int] = field(default_factory=dict)


class MarlinPort:
    """One printer on one serial link. Faults are raised to waiters and reported to `on_fault`."""

    def __init__(self, link: SerialLink, settings: MarlinSettings | None = None) -> None:
        self.link = link
        self.settings = settings or MarlinSettings()
        self.firmware = FirmwareInfo()
        self.temperatures = Temperatures()
        self.stats = LinkStats()
        self.on_temperatures: Callable[[Temperatures], None] | None = None
        self.on_fault: Callable[[MarlinError], None] | None = None
        self.on_message: Callable[[str], None] | None = None
        #: An `Error:` in words the driver does not know; the print goes on.
        self.on_firmware_error: Callable[[str], None] | None = None
        #: Called with every line from the printer before it is interpreted: card replies such as
        #: `Done printing file` or `error writing to file` come between a command and its `ok`.
        self.listeners: list[Callable[[str], None]] = []
        #: While set, no `M105` is slipped in between lines: during an `M28` upload it would be
        #: written into the file.
        self.hold_polls = False
        self.failure: MarlinError | None = None
        #: Whether the board announced a boot (`start`) during the last handshake.
        self.booted = False
        self.advanced = False
        self.ok_after_resend: bool | None = None
        self._reader: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._autoreport = False
        self._wake = asyncio.Event()
        self._started = asyncio.Event()
        self._handshaking = False
        #: After a handshake, a `start` from the printer means it was reset.
        self._established = False
        self._handshake_ok: asyncio.Event | None = None
        self._capture: list[str] | None = None
        self._last_stream: _Stream | None = None
        #: An `Error:` with a halt's words, waiting to see whether a `Resend:` follows.
        self._held_halt: tuple[str, asyncio.TimerHandle] | None = None
        self._reset_link_state()

    # --- state ----------------------------------------------------------------------------------
    def _reset_link_state(self) -> None:
        self._next_n = 1
        self._last_sent = 0
        self._confirmed = 0
        self._history: dict[int, bytes] = {}
        self._long: set[int] = set()
        self._pending: deque[int] = deque()
        self._resend_from: int | None = None
        self._rewound_to: int | None = None
        self._stale = 0
        self._last_error: ErrorKind | None = None
        #: The wording of an unknown `Error:` on the line just before; a `Resend:` next teaches it.
        self._unknown_just_seen: str | None = None
        #: Unknown wordings the firmware has shown to be resend requests: not reported again.
        self._learnt_wordings: set[str] = set()
        self._resends: dict[int, int] = {}
        self._swallow_ok = False
        self._learning: asyncio.TimerHandle | None = None
        self._inject: deque[tuple[str, asyncio.Future[list[str]]]] = deque()
        self._waiters: dict[int, asyncio.Future[list[str]]] = {}
        self._stream: _Stream | None = None
        self._paused = False
        self._window = 1
        self._max_free = 0
        self._last_activity = 0.0
        self._probes = 0
        self._probing = False
        self._probe_due = False

    @property
    def current_stream(self) -> _Stream | None:
        """The stream running now, or the last one (its counts stay readable after it ended)."""
        return self._last_stream

    @property
    def next_line_number(self) -> int:
        return self._next_n

    @property
    def window(self) -> int:
        return self._window

    @property
    def connected(self) -> bool:
        return self.failure is None and self.link.is_open and not self._handshaking

    @property
    def paused(self) -> bool:
        return self._paused

    # --- lifecycle --------------------------------------------------------------------------------
    async def connect(self) -> FirmwareInfo:
        """Open the port (which resets most boards), then handshake."""
        await self.link.open()
        self._reader = asyncio.create_task(self._read_loop(), name=f"marlin-read {self.link.path}")
        self._sender = asyncio.create_task(self._send_loop(), name=f"marlin-send {self.link.path}")
        self._watchdog = asyncio.create_task(self._watch(), name=f"marlin-watch {self.link.path}")
        self._poller = asyncio.create_task(self._poll(), name=f"marlin-poll {self.link.path}")
        return await self.handshake(wait_for_start=True)

    async def handshake(self, wait_for_start: bool = False) -> FirmwareInfo:
        """Agree on line numbers and learn the firmware; also used after a board reset."""
        s = self.settings
        self._fail_waiters(PrinterLost("the printer connection is being set up again"))
        self._drop_held_halt()
        self._reset_link_state()
        self.failure = None
        self._handshaking = True
        self._established = False
        loop = asyncio.get_running_loop()
        try:
            if wait_for_start and not self._started.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._started.wait(), s.reset_wait_s)
            # A board that printed `start` has just booted: whatever it was doing (a card print) is gone.
            self.booted = self._started.is_set()
            self._started.clear()
            await self._quiet(0.03, 1.0)
            for _attempt in range(s.handshake_attempts):
                self._handshake_ok = asyncio.Event()
                await self.link.write(encode_line(0, "M110 N0"))
                try:
                    await asyncio.wait_for(self._handshake_ok.wait(), s.handshake_reply_s)
                    break
                except TimeoutError:
                    continue
            else:
                raise HandshakeFailed(
                    f"{self.link.path}: no reply to M110 after {s.handshake_attempts} tries; is this a "
                    "Marlin printer, and is the baud rate right?")
            await self._quiet(0.02, 0.3)
            self._last_activity = loop.time()
            self._established = True
        finally:
            self._handshake_ok = None
            self._handshaking = False
        self.firmware = FirmwareInfo()
        lines = await self.command("M115", timeout=s.handshake_reply_s * 2)
        for line in lines:
            parse_firmware_line(line, self.firmware)
        if self.firmware.cap("ADVANCED_OK"):
            self.advanced = True
        await self.poll_temperatures()
        self._autoreport = self.firmware.cap("AUTOREPORT_TEMP") and s.autoreport_s > 0
        if self._autoreport:
            await self.command(f"M155 S{s.autoreport_s}", timeout=s.timeout_s)
        log.info("%s: %s, caps %s", self.link.path, self.firmware.name or "unknown firmware",
                 ",".join(k for k, v in sorted(self.firmware.caps.items()) if v))
        return self.firmware

    async def _quiet(self, gap: float, limit: float) -> None:
        """Let boot chatter end: wait until nothing arrived for `gap` seconds (at most `limit`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while loop.time() < deadline and loop.time() - self._last_activity < gap:
            await asyncio.sleep(gap / 2)

    async def close(self) -> None:
        tasks = [t for t in (self._reader, self._sender, self._watchdog, self._poller) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._reader = self._sender = self._watchdog = self._poller = None
        self._drop_held_halt()
        self._fail_waiters(PrinterLost("the printer connection was closed"))
        await self.link.close()

    # --- requests ------------------------------------------------------------------------------------
    async def command(self, text: str, timeout: float | None = None) -> list[str]:
        """Send one command as a numbered line; returns the lines the printer said before its `ok`."""
        if self.failure is not None:
            raise self.failure
        waiter: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._inject.append((text, waiter))
        self._wake.set()
        if timeout is None:
            return await waiter
        return await asyncio.wait_for(waiter, timeout)

    async def poll_temperatures(self) -> None:
        lines = await self.command("M105", timeout=self.settings.timeout_s)
        for line in lines:
            temps = parse_temperatures(line)
            if temps is not None:
                self._set_temperatures(temps)

    async def stream(self, commands: Sequence[str], on_progress: Callable[[int], None] | None = None) -> _Stream:
        """Send `commands` in order; returns once the printer accepted the last one.

        Cancelling the caller stops the stream; lines already sent still run.
        """
        if self.failure is not None:
            raise self.failure
        if self._stream is not None:
            raise RuntimeError("a stream is already running on this printer")
        stream = _Stream(commands, asyncio.get_running_loop().create_future(), on_progress)
        if not commands:
            stream.done.set_result(None)
        self._stream = self._last_stream = stream
        self._wake.set()
        try:
            await stream.done
            return stream
        finally:
            self._stream = None

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        self._wake.set()

    async def write_unnumbered(self, *commands: str) -> None:
        """Raw lines outside the numbering: `M112` and heater shut-off after a halt."""
        data = b"\n" + b"".join(c.encode("ascii") + b"\n" for c in commands)
        with contextlib.suppress(LinkClosed, OSError):
            await self.link.write(data)

    async def emergency_stop(self, heaters_off: bool = True) -> None:
        """`M112` at once, ahead of everything queued (the firmware's emergency parser sees it)."""
        self._fault(PrinterHalted("emergency stop (M112) sent by the host"))
        await self.write_unnumbered("M112")
        if heaters_off:
            await self.write_unnumbered("M104 S0", "M140 S0")

    # --- sending ---------------------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (data := self._next_line()) is not None:
                try:
                    await self.link.write(data)
                except (LinkClosed, OSError) as exc:
                    self._fault(PrinterLost(self._lost_reason(exc)))
                    break

    def _next_line(self) -> bytes | None:
        if (self.failure is not None or self._learning is not None or self._handshaking
                or self._held_halt is not None):
            return None
        if self._probe_due:
            self._probe_due = False
            data = self._history.get(self._last_sent)
            if data is not None and self._pending:
                self._probing = True
                self.stats.probes += 1
                self._last_activity = asyncio.get_running_loop().time()
                return data
        if len(self._pending) >= self._window:
            return None
        if self._resend_from is not None:
            number = self._resend_from
            self._resend_from = number + 1 if number < self._last_sent else None
            data = self._history.get(number)
            if data is None:
                self._fault(ResendLimit(f"the printer asked again for line {number}, which is no longer kept"))
                return None
            self.stats.lines_resent += 1
            if self._stream is not None and number in self._stream.numbers:
                self._stream.resent += 1
            self._pending.append(number)
            return data
        number = self._next_n
        if self._inject:
            text, waiter = self._inject.popleft()
            self._waiters[number] = waiter
            self._capture = []
        elif self._stream is not None and not self._paused and self._stream.next_index < len(self._stream.commands):
            text = self._stream.commands[self._stream.next_index]
            self._stream.numbers[number] = self._stream.next_index
            self._stream.next_index += 1
            self._stream.sent += 1
        else:
            return None
        data = encode_line(number, text)
        self._history[number] = data
        self._history.pop(number - self.settings.history, None)
        if command_code(text) in LONG_COMMANDS:
            self._long.add(number)
        self._next_n = number + 1
        self._last_sent = number
        self._pending.append(number)
        self.stats.lines_sent += 1
        if len(self._pending) == 1:
            self._last_activity = asyncio.get_running_loop().time()
        return data

    # --- receiving ---------------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        try:
            while True:
                raw = await self.link.readline()
                line = raw.decode("latin-1").strip().strip("\x00")
                if line:
                    self._handle(line)
        except (LinkClosed, OSError) as exc:
            self._fault(PrinterLost(self._lost_reason(exc)))

    def _lost_reason(self, exc: Exception) -> str:
        # LinkClosed already names the port: an unplugged ftdi_sio port read as
        # "/dev/ttyUSB0: /dev/ttyUSB0: Input/output error" in the device's reason.
        return str(exc) if isinstance(exc, LinkClosed) else f"{self.link.path}: {exc}"

    def _handle(self, line: str) -> None:
        loop = asyncio.get_running_loop()
        for listener in list(self.listeners):
            listener(line)
        resend = parse_resend(line)
        if self._held_halt is not None:
            self._settle_held_halt(resend is not None)
        unknown, self._unknown_just_seen = self._unknown_just_seen, None
        if unknown is not None and resend is not None:
            # The firmware asks for a line again right after it: this wording means a refused line.
            self._learnt_wordings.add(unknown)
        is_ok = line == "ok" or line.startswith("ok ")
        # The `ok` that follows a resend request answers no line: with ADVANCED_OK it carries no
        # line number, while a queued line's `ok` that happens to come next does.
        resend_ok = is_ok and not (self.advanced and OK_NUMBER_RE.search(line))
        if self._learning is not None:
            self._learning.cancel()
            self._learning = None
            self.ok_after_resend = resend_ok
            log.debug("%s: firmware %s ok after a resend request", self.link.path,
                      "sends" if resend_ok else "sends no")
            self._wake.set()
            if resend_ok:
                return
        elif self._swallow_ok:
            self._swallow_ok = False
            if resend_ok:
                return
        if is_ok:
            self._last_activity = loop.time()
            self._on_ok(line)
            return
        lower = line.lower()
        if resend is not None:
            self._last_activity = loop.time()
            self._on_resend(resend)
            return
        kind = classify_error(line)
        if kind is not None:
            self._on_error(line, kind)
            return
        if START_RE.search(line):
            self._last_activity = loop.time()
            if self._established:
                self._fault(BoardReset("the printer restarted by itself (it printed 'start'): a reset, "
                                       "brown-out or watchdog"))
            self._started.set()
            return
        if "busy:" in lower:
            self._last_activity = loop.time()
            return
        temps = parse_temperatures(line)
        if temps is not None:
            self._set_temperatures(temps)
            if self._capture is not None:
                self._capture.append(line)
            return
        if self._handshaking:
            self._last_activity = loop.time()
        if line.startswith(("FIRMWARE_NAME:", "Cap:")):
            parse_firmware_line(line, self.firmware)
        if "unknown command" in lower:
            log.warning("%s: %s", self.link.path, line)
        if self._capture is not None:
            self._capture.append(line)
        if self.on_message is not None:
            self.on_message(line)

    def _on_error(self, line: str, kind: ErrorKind) -> None:
        is_error = line.lower().startswith("error:")
        text = line[6:].strip() if is_error else line
        if kind is ErrorKind.UNKNOWN and _wording(text) in self._learnt_wordings:
            kind = ErrorKind.DAMAGED
        if kind in (ErrorKind.SEQUENCE, ErrorKind.DAMAGED):
            self._last_error = kind
            log.debug("%s: %s", self.link.path, line)
        elif kind is ErrorKind.BENIGN:
            log.warning("%s: %s", self.link.path, line)
        elif kind is ErrorKind.HALT and not is_error:
            self._fault(PrinterHalted(f"the printer reported: {line}"))
        elif kind is ErrorKind.HALT:
            if self.failure is None:
                # Sending stops now; the verdict waits for the next line, because an `Error:` followed
                # by `Resend:` is a refused line, whatever its words, and never a halt.
                timer = asyncio.get_running_loop().call_later(self.settings.halt_confirm_s,
                                                              self._settle_held_halt, False)
                self._held_halt = (text, timer)
        else:
            self._report_unknown(text)

    def _report_unknown(self, text: str) -> None:
        # A refused line may hide behind it (a `Resend:` next will tell), so the next resend
        # request is obeyed in full, as for a damaged line.
        self._last_error = ErrorKind.UNKNOWN
        self._unknown_just_seen = _wording(text)
        log.warning("%s: the printer reported an error it did not stop for: %s", self.link.path, text)
        if self.on_firmware_error is not None:
            self.on_firmware_error(text)

    def _settle_held_halt(self, resend_follows: bool) -> None:
        if self._held_halt is None:
            return
        text, timer = self._held_halt
        timer.cancel()
        self._held_halt = None
        if resend_follows and _wording(text) in self._learnt_wordings:
            self._last_error = ErrorKind.DAMAGED
            self._wake.set()
        elif resend_follows:
            self._report_unknown(text)
            self._wake.set()
        else:
            self._fault(PrinterHalted(f"the printer reported: {text}"))

    def _drop_held_halt(self) -> None:
        if self._held_halt is not None:
            self._held_halt[1].cancel()
            self._held_halt = None

    def _set_temperatures(self, temps: Temperatures) -> None:
        current = self.temperatures
        self.temperatures = Temperatures(
            temps.hotend if temps.hotend is not None else current.hotend,
            temps.hotend_target if temps.hotend_target is not None else current.hotend_target,
            temps.bed if temps.bed is not None else current.bed,
            temps.bed_target if temps.bed_target is not None else current.bed_target)
        if self.on_temperatures is not None:
            self.on_temperatures(self.temperatures)

    def _on_ok(self, line: str) -> None:
        self.stats.oks += 1
        if self._handshake_ok is not None:
            self._handshake_ok.set()
            return
        fields = {k: int(v) for k, v in OK_FIELD_RE.findall(line[2:])}
        temps = parse_temperatures(line)
        if temps is not None:
            self._set_temperatures(temps)
            if self._capture is not None:
                self._capture.append(line[2:].strip())
        if "B" in fields:
            if not self.advanced:
                self.advanced = True
            self._max_free = max(self._max_free, fields["B"])
            if self.settings.send_ahead:
                self._window = max(1, min(self.settings.max_window, self._max_free + 1))
        if "N" in fields:
            while self._pending and self._pending[0] <= fields["N"]:
                self._confirm(self._pending.popleft())
        elif self._pending and not self.advanced:
            self._confirm(self._pending.popleft())
        elif self._pending and self._window == 1 and not self._probing:
            # With ADVANCED_OK every line we send is answered with its number; an `ok` without one
            # answers a fragment of a line that noise broke. With one line in flight nothing else
            # would show whether it was ours, so ask at once instead of waiting for the time-out.
            self._probe_due = True
        self._wake.set()

    def _confirm(self, number: int) -> None:
        self._confirmed = max(self._confirmed, number)
        self._probes = 0
        self._probing = False
        self._probe_due = False
        self._resends.pop(number, None)
        self._long.discard(number)
        waiter = self._waiters.pop(number, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(self._capture or [])
            self._capture = None
        stream = self._stream
        if stream is not None:
            index = stream.numbers.pop(number, None)
            if index is not None:
                stream.confirmed = index + 1
                if stream.on_progress is not None:
                    stream.on_progress(stream.confirmed)
                if stream.confirmed >= len(stream.commands) and not stream.done.done():
                    stream.done.set_result(None)

    def _on_resend(self, number: int) -> None:
        self.stats.resend_requests += 1
        if self.ok_after_resend is None:
            # Marlin sends `ok` right after `Resend:`, some firmwares do not: hold the sender
            # until the next line shows which, so that `ok` is never taken for a line's.
            self._learning = asyncio.get_running_loop().call_later(0.5, self._learnt_no_ok)
        elif self.ok_after_resend:
            self._swallow_ok = True
        kind, self._last_error = self._last_error, None
        if kind is ErrorKind.SEQUENCE and self._stale > 0 and number == self._rewound_to:
            # A line sent before the rewind, refused for its number. A resent line that arrives
            # damaged fails its checksum instead, so that request is never mistaken for an echo.
            self._stale -= 1
            self.stats.stale_resends += 1
            return
        slack = 0 if self.advanced else 4
        if 0 < number <= self._confirmed - slack:
            # It asks again for a line it had accepted: it forgot them, so it restarted without saying
            # `start`. Sending them again would run the start of the job a second time.
            self._fault(BoardReset(f"the printer asked for line {number} again after accepting up to "
                                   f"{self._confirmed}: it restarted"))
            return
        if number > self._last_sent + 1 or number < 1:
            log.warning("%s: the printer asks for line %d; %d is the last one sent", self.link.path, number,
                        self._last_sent)
            return
        stale = [n for n in self._pending if n >= number]
        self._pending = deque(n for n in self._pending if n < number)
        self._stale = 0 if self._probing else max(0, len(stale) - 1)
        if self._probing:
            # The answer to a probe: everything before `number` was accepted (its `ok` was lost).
            while self._pending:
                self._confirm(self._pending.popleft())
        if number <= self._last_sent:
            count = self._resends.get(number, 0) + 1
            self._resends[number] = count
            if count > self.settings.resend_cap:
                self._fault(ResendLimit(
                    f"line {number} was refused {count} times in a row (checksum or line-number errors): "
                    "the cable or USB link is too noisy; try a shorter cable or a lower baud rate"))
                return
            self._rewound_to = number
            self._resend_from = number
        self._wake.set()

    def _learnt_no_ok(self) -> None:
        self._learning = None
        self.ok_after_resend = False
        self._wake.set()

    # --- watchdog ---------------------------------------------------------------------------------------------
    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            s = self.settings
            await asyncio.sleep(min(s.timeout_s / 4, 0.5))
            if self.failure is not None or self._handshaking or not self._pending:
                continue
            limit = s.long_timeout_s if self._long else s.timeout_s
            if loop.time() - self._last_activity < limit:
                continue
            if self._probes >= s.max_probes:
                self._fault(PrinterTimeout(
                    f"the printer stopped answering: no reply for {limit:.0f}s after {self._probes} "
                    "re-sent lines"))
                continue
            self._probes += 1
            log.warning("%s: no reply for %.0fs; re-sending line %d", self.link.path, limit, self._last_sent)
            self._probe_due = True
            self._wake.set()

    async def _poll(self) -> None:
        """Firmware without auto-report is asked with M105; the reply slots in between job lines."""
        while True:
            await asyncio.sleep(self.settings.poll_s)
            if self.connected and not self._autoreport and not self._inject and not self.hold_polls:
                with contextlib.suppress(MarlinError, TimeoutError):
                    await self.poll_temperatures()

    # --- faults ---------------------------------------------------------------------------------------------
    def _fault(self, exc: MarlinError) -> None:
        if self.failure is not None:
            return
        self.failure = exc
        text = str(exc)
        log.warning("%s", text if text.startswith(self.link.path) else f"{self.link.path}: {text}")
        self._fail_waiters(exc)
        if self.on_fault is not None:
            self.on_fault(exc)

    def _fail_waiters(self, exc: MarlinError) -> None:
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(exc)
        for _text, waiter in self._inject:
            if not waiter.done():
                waiter.set_exception(exc)
        self._waiters.clear()
        self._inject.clear()
        if self._stream is not None and not self._stream.done.done():
            self._stream.done.set_exception(exc)
