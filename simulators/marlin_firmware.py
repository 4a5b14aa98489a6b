"""A Marlin-like printer firmware on a pseudo-terminal, for the demo, the tests and the benchmark.

It follows Marlin's `queue.cpp` where hosts can tell the difference: numbered
lines with XOR checksums, `Error:`/`Resend:` for a wrong line number or
checksum (with the receive buffer flushed, as Marlin does), a `BUFSIZE`
command queue filled only while it has room, `ok` sent once a command has run
(moves: once they are in the planner), `ADVANCED_OK`, `M115` capabilities,
`M155` auto-report, heating with `busy:` keep-alives, and `M112` through the
emergency parser. Bytes cross a paced "wire" in both directions, so timing
reflects the baud rate.

Opening the pty's serial side resets the board, as DTR does on a real one:
boot noise, then `start`. Tests steer faults through the knobs (`noise`,
`corrupt_lines`, `lose_lines`, `drop_oks`, `at_line`, `halt`, `thermal_runaway`,
`reset`). `resend_dialect` and `resend_error` make it word its resend requests
as other firmwares do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import math
import os
import random
import re
import tty
from collections import deque
from dataclasses import dataclass

from classroomd.drivers.marlin_protocol import checksum
from classroomd.simulators.board_physics import Heater, Wire
from classroomd.simulators.marlin_sdcard import CardReader, SdCard

SD_COMMANDS = frozenset({"M20", "M21", "M22", "M23", "M24", "M25", "M27", "M28", "M30", "M524"})
BUSY_COMMANDS = frozenset({"G28", "G29", "M109", "M190", "M400", "G4", "M600"})

#: How firmwares refuse a line, by why it was refused: `sequence` (wrong number), `checksum`
#: (wrong checksum), `no_checksum`, each the error line printed first (absent: none), and
#: `resend`, the request itself. `{last}` is the last line accepted, `{expected}` the line
#: wanted, `{got}` the line that came. The wordings are the firmwares' own (docs/printers.md).
RESEND_DIALECTS: dict[str, dict[str, str]] = {
    # Marlin 1.1 and 2.x, and Prusa-Firmware (MK2/MK3), which words them the same.
    "marlin": {"sequence": "Error:Line Number is not Last Line Number+1, Last Line: {last}",
               "checksum": "Error:checksum mismatch, Last Line: {last}",
               "no_checksum": "Error:No Checksum with line number, Last Line: {last}",
               "resend": "Resend: {expected}"},
    "repetier": {"sequence": "Error:expected line {expected} got {got}",
                 "checksum": "Error:Wrong checksum",
                 "no_checksum": "Error:Missing checksum",
                 "resend": "Resend:{expected}"},
    # OctoPrint's virtual printer, which follows Repetier with a space after the colon.
    "octoprint": {"sequence": "Error: expected line {expected} got {got}",
                  "checksum": "Error: Wrong checksum",
                  "no_checksum": "Error: Missing checksum",
                  "resend": "Resend:{expected}"},
    # Smoothieware prints only the request, and no `ok` after it.
    "smoothie": {"resend": "rs N{expected}"},
    # RepRapFirmware 2 in Marlin mode answers a bad checksum with M998's reply after `rs `.
    "reprapfirmware2": {"resend": "rs  Checksum error on line {expected}"},
}
EOL_RE = re.compile(rb"[\r\n]")
WORD_RE = re.compile(r"([A-Z])\s*(-?\d*\.?\d*)")


@dataclass
class FirmwareProfile:
    """What kind of firmware and board to pretend to be."""

    baud: int = 115200  # 0: no pacing, bytes cross at once
    firmware_name: str = "Marlin 2.1.2.1 (classroomd simulator)"
    machine_type: str = "Prusa MK4 (simulated)"
    advanced_ok: bool = True
    autoreport_temp: bool = True
    emergency_parser: bool = True
    progress_cap: bool = True
    ok_after_resend: bool = True
    host_keepalive: bool = True
    bufsize: int = 4
    rx_buffer_size: int = 128
    planner_size: int = 16
    max_cmd_size: int = 96
    boot_delay_s: float = 0.05
    boot_noise: bytes = b"\x00\xfe\x7f\x13"
    #: Scale of move and homing durations: 1.0 is real time, 0 makes motion instant.
    motion_scale: float = 1.0
    heat_rate_c_s: float = 25.0
    cool_rate_c_s: float = 5.0
    ambient_c: float = 22.0
    busy_interval_s: float = 2.0
    wait_report_interval_s: float = 1.0
    #: Probability that a byte from the host is corrupted by one flipped bit.
    byte_error_rate: float = 0.0
    seed: int = 1
    #: Whose words refused lines are reported in: a key of `RESEND_DIALECTS`.
    resend_dialect: str = "marlin"
    #: One error line for every refused line, in place of the dialect's (same `{…}` fields):
    #: for wordings no dialect has, such as a firmware's unknown one.
    resend_error: str | None = None
    #: Whether opening the port resets the board (after the first, power-on boot): 8-bit boards with
    #: an auto-reset circuit do, on DTR; 32-bit boards with native USB (Prusa MK4, SKR, …) do not.
    reset_on_open: bool = True
    sd_present: bool = True
    sd_capacity: int = 32 * 1024 * 1024


@dataclass
class QueuedCommand:
    number: int | None
    text: str
    #: "serial" or "sd": commands read from the card get no `ok`.
    source: str = "serial"


@dataclass
class Stats:
    lines_received: int = 0
    checksum_errors: int = 0
    line_number_errors: int = 0
    no_checksum_errors: int = 0
    bytes_received: int = 0
    bytes_corrupted: int = 0
    rx_overruns: int = 0
    oks: int = 0
    resets: int = 0
    emergency_stops: int = 0


class MarlinSimulator:
    """A simulated Marlin board whose serial port is the slave side of a pty (`self.port`)."""

    def __init__(self, profile: FirmwareProfile | None = None) -> None:
        self.profile = profile or FirmwareProfile()
        p = self.profile
        self.port = ""
        self.stats = Stats()
        #: Commands run from numbered lines, in order, as `(line number, command)`.
        self.executed: list[tuple[int, str]] = []
        #: Commands run from lines without a number (Marlin runs those unchecked).
        self.unnumbered: list[str] = []
        self.halted = False
        self.halt_reason = ""
        #: What the host sent after the firmware halted (the halt policy's M112 and heaters off).
        self.after_halt = bytearray()
        #: A hung board: it neither reads nor answers.
        self.frozen = False
        self.progress: tuple[int, int | None] | None = None
        self.message = ""
        # --- knobs --------------------------------------------------------------
        #: Line numbers whose checksum arrives corrupted, and how many more times.
        self.corrupt_lines: dict[int, int] = {}
        #: Line numbers lost on the way in (noise ate the line), and how many more times.
        self.lose_lines: dict[int, int] = {}
        #: How many of the next `ok`s are lost on the way to the host.
        self.drop_oks = 0
        #: Actions run when the numbered line arrives at execution: "halt", "runaway", "reset", or
        #: "say:<text>", which prints the text (an `Error:` that is no halt, say) and runs the line.
        self.at_line: dict[int, str] = {}
        self._rng = random.Random(p.seed)
        self._next_error = self._draw_error_gap()
        self.hotend = Heater("T", p.ambient_c, p.heat_rate_c_s, p.cool_rate_c_s, p.ambient_c)
        self.bed = Heater("B", p.ambient_c, p.heat_rate_c_s / 4, p.cool_rate_c_s / 4, p.ambient_c)
        self._master = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._host_open = False
        self._poll: asyncio.TimerHandle | None = None
        self._backlog = bytearray()
        self._to_board = Wire(p.baud, self._on_wire_bytes)
        self._to_host = Wire(p.baud, self._write_master)
        self._tasks: list[asyncio.Task[None]] = []
        #: The card in the board's slot; it keeps its files across resets.
        self.card = SdCard(p.sd_present, p.sd_capacity)
        #: Commands run from the card, in order.
        self.sd_executed: list[str] = []
        self._reset_state()

    # --- lifecycle ------------------------------------------------------------------
    @property
    def host_connected(self) -> bool:
        """Whether a host holds the serial side open, as far as the board has noticed."""
        return self._host_open

    async def start(self) -> str:
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        # Nobody holds the serial side open, so the master reads EIO until a host opens it:
        # that transition is the simulated DTR reset.
        os.close(slave)
        os.set_blocking(master, False)
        self._master = master
        self._poll_for_host()
        return self.port

    async def close(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        self._stop_board()
        self._to_board.clear()
        self._to_host.clear()
        if self._master >= 0 and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._master)
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._master)
            os.close(self._master)
        self._master = -1

    def _poll_for_host(self) -> None:
        self._poll = None
        if self._master < 0 or self._loop is None:
            return
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            data = b""
        except OSError:
            self._poll = self._loop.call_later(0.02, self._poll_for_host)
            return
        self._host_open = True
        self._loop.add_reader(self._master, self._on_master_readable)
        if self.stats.resets == 0 or self.profile.reset_on_open:
            self.reset()
        if data:
            self._to_board.send(data)

    def _on_master_readable(self) -> None:
        assert self._loop is not None
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # The host closed the port: the board keeps running until it is opened again.
            self._host_open = False
            self._loop.remove_reader(self._master)
            self._poll = self._loop.call_later(0.02, self._poll_for_host)
            return
        self._to_board.send(data)

    def _write_master(self, data: bytes) -> None:
        if self._master < 0 or not self._host_open:
            return
        self._backlog += data
        self._flush_backlog()

    def _flush_backlog(self) -> None:
        assert self._loop is not None
        with contextlib.suppress(Exception):
            self._loop.remove_writer(self._master)
        while self._backlog:
            try:
                written = os.write(self._master, self._backlog)
            except BlockingIOError:
                self._loop.add_writer(self._master, self._flush_backlog)
                return
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    self._backlog.clear()
                    return
                raise
            del self._backlog[:written]

    # --- board state ------------------------------------------------------------------
    def _reset_state(self) -> None:
        self.last_n = 0
        self.queue: deque[QueuedCommand] = deque()
        self._rx = bytearray()
        self._line = bytearray()
        self._moves: deque[float] = deque()
        self._position = {"X": 0.0, "Y": 0.0, "Z": 0.0, "E": 0.0}
        self._feed = 3000.0
        self._relative = False
        self._autoreport_s = 0.0
        self._queue_changed = asyncio.Event()
        #: Set when the card feeder may have something to do: a print started, or the queue made room.
        self._sd_wake = asyncio.Event()
        self.halted = False
        self.halt_reason = ""
        self.hotend.target = self.bed.target = 0.0
        self.hotend.broken = self.bed.broken = False
        self.reader = CardReader(self.card, self._say)

    def _stop_board(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    def reset(self, quiet: bool = False) -> None:
        """A board reset: everything the firmware held is gone, then it boots and says `start`.

        `quiet` is a reset whose boot messages never reach the host (a brown-out that garbles them).
        """
        self._stop_board()
        self._reset_state()
        self.stats.resets += 1
        self._tasks.append(asyncio.ensure_future(self._boot(quiet)))

    async def _boot(self, quiet: bool = False) -> None:
        p = self.profile
        await asyncio.sleep(p.boot_delay_s)
        if not quiet:
            self._to_host.send(p.boot_noise)
            for line in ("start", "echo:Marlin 2.1.2.1", "echo: Last Updated: 2023-07-01 | Author: (simulator)",
                         "echo:Compiled: Jul  1 2023", "echo: Free Memory: 4523  PlannerBufferBytes: 1232",
                         "echo:SD card ok" if self.card.present else "echo:SD init fail"):
                self._say(line)
        for job in (self._process, self._autoreport, self._sd_feed):
            self._tasks.append(asyncio.ensure_future(job()))

    def halt(self, reason: str = "Printer halted. kill() called!") -> None:
        """What Marlin's kill() does: heaters off, motion stopped, one error line, then silence."""
        if self.halted:
            return
        self._say(f"Error:{reason}")
        if "kill() called" not in reason:
            self._say("Error:Printer halted. kill() called!")
        self.halted = True
        self.halt_reason = reason
        self.hotend.target = self.bed.target = 0.0
        self.queue.clear()
        self._moves.clear()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    def thermal_runaway(self) -> None:
        self.hotend.broken = True
        self.halt("Thermal Runaway, system stopped! Heater_ID: 0")

    # --- receiving ------------------------------------------------------------------------
    def _draw_error_gap(self) -> int:
        rate = self.profile.byte_error_rate
        if rate <= 0:
            return -1
        return int(math.log(1.0 - self._rng.random()) / math.log(1.0 - rate))

    def set_noise(self, byte_error_rate: float) -> None:
        self.profile.byte_error_rate = byte_error_rate
        self._next_error = self._draw_error_gap()

    def _add_noise(self, data: bytes) -> bytes:
        if self._next_error < 0:
            return data
        buf = bytearray(data)
        pos = self._next_error
        while pos < len(buf):
            buf[pos] ^= 1 << self._rng.randrange(8)
            self.stats.bytes_corrupted += 1
            pos += 1 + self._draw_error_gap()
        self._next_error = pos - len(buf)
        return bytes(buf)

    def _on_wire_bytes(self, data: bytes) -> None:
        if self.frozen:
            return
        data = self._add_noise(data)
        self.stats.bytes_received += len(data)
        if self.halted:
            self.after_halt += data
            return
        if self.profile.emergency_parser and b"M112" in data:
            # The emergency parser sees bytes as they arrive, ahead of the full queue.
            self.stats.emergency_stops += 1
            self.halt("Printer halted. kill() called!")
            self.after_halt += data[data.index(b"M112") + 4:]
            return
        # The firmware drains its receive buffer while bytes arrive; it overflows only when the
        # command queue is full and cannot take the lines waiting in it.
        view = memoryview(data)
        while view:
            room = self.profile.rx_buffer_size - len(self._rx)
            if room <= 0:
                self.stats.rx_overruns += len(view)
                break
            self._rx += view[:room]
            view = view[room:]
            self._pump()

    def _pump(self) -> None:
        """Marlin's get_serial_commands: read bytes into lines while the command queue has room."""
        limit = self.profile.max_cmd_size - 1
        while self._rx and len(self.queue) < self.profile.bufsize and not self.halted:
            end = EOL_RE.search(self._rx)
            if end is None:
                self._line += self._rx[: max(0, limit - len(self._line))]
                self._rx.clear()
                break
            self._line += self._rx[: max(0, min(end.start(), limit - len(self._line)))]
            del self._rx[: end.start() + 1]
            raw = bytes(self._line)
            self._line.clear()
            self._accept(raw.decode("latin-1"))
        self._queue_changed.set()

    def _accept(self, raw: str) -> None:
        line = raw.split(";", 1)[0].strip()
        if not line:
            return
        self.stats.lines_received += 1
        if line.startswith("N"):
            self._accept_numbered(line)
        else:
            self.queue.append(QueuedCommand(None, line.split("*", 1)[0].strip()))

    def _accept_numbered(self, line: str) -> None:
        number_pos = 0
        is_m110 = "M110" in line
        if is_m110:
            second = line.find("N", line.find("M110") + 4)
            if second >= 0:
                number_pos = second
        match = re.match(r"-?\d+", line[number_pos + 1:])
        number = int(match.group()) if match else 0
        if self.lose_lines.get(number, 0) > 0:
            self.lose_lines[number] -= 1
            return
        if number != self.last_n + 1 and not is_m110:
            self.stats.line_number_errors += 1
            self._line_error("sequence", number)
            return
        star = line.rfind("*")
        if star < 0:
            self.stats.no_checksum_errors += 1
            self._line_error("no_checksum", number)
            return
        body, given = line[:star], line[star + 1:].strip()
        expected = checksum(body)
        if self.corrupt_lines.get(number, 0) > 0:
            self.corrupt_lines[number] -= 1
            expected ^= 0x55
        if not (given.isascii() and given.isdigit()) or int(given) != expected:
            self.stats.checksum_errors += 1
            self._line_error("checksum", number)
            return
        self.last_n = number
        command = re.sub(r"^N-?\d+\s*", "", body).strip()
        self.queue.append(QueuedCommand(number, command))

    def _line_error(self, reason: str, got: int) -> None:
        """Refuse a line as the chosen firmware does: error line, flushed receive buffer, resend request."""
        dialect = RESEND_DIALECTS[self.profile.resend_dialect]
        fields = {"last": self.last_n, "expected": self.last_n + 1, "got": got}
        error = self.profile.resend_error or dialect.get(reason)
        if error is not None:
            self._say(error.format(**fields))
        self._rx.clear()
        self._line.clear()
        self._say(dialect["resend"].format(**fields))
        if self.profile.ok_after_resend:
            self._say("ok")

    # --- sending ------------------------------------------------------------------------------
    def say(self, line: str) -> None:
        """Print a line to the host, as the firmware would (tests inject `fatal:` and the like)."""
        self._say(line)

    def _say(self, line: str) -> None:
        if self.frozen:
            return
        self._to_host.send(line.encode("latin-1") + b"\n")

    def _ok(self, extra: str = "") -> None:
        self.stats.oks += 1
        if self.drop_oks > 0:
            self.drop_oks -= 1
            return
        text = "ok"
        if self.profile.advanced_ok:
            head = self.queue[0] if self.queue else None
            if head is not None and head.number is not None:
                text += f" N{head.number}"
            text += f" P{self._planner_free()} B{self.profile.bufsize - len(self.queue)}"
        self._say(f"{text}{extra}")

    def temperature_report(self) -> str:
        now = asyncio.get_running_loop().time()
        t, b = self.hotend.actual(now), self.bed.actual(now)
        return (f"T:{t:.2f} /{self.hotend.target:.2f} B:{b:.2f} /{self.bed.target:.2f} "
                f"@:{127 if self.hotend.target > t else 0} B@:{127 if self.bed.target > b else 0}")

    async def _autoreport(self) -> None:
        while True:
            interval = self._autoreport_s
            await asyncio.sleep(interval or 0.2)
            if self._autoreport_s and not self.halted:
                self._say(" " + self.temperature_report())

    # --- executing ------------------------------------------------------------------------------
    def _planner_free(self) -> int:
        now = asyncio.get_running_loop().time()
        while self._moves and self._moves[0] <= now:
            self._moves.popleft()
        return self.profile.planner_size - len(self._moves)

    async def _process(self) -> None:
        while True:
            while not self.queue:
                self._queue_changed.clear()
                await self._queue_changed.wait()
            command = self.queue[0]
            code = command.text.split(" ", 1)[0].upper()
            if self.reader.saving is not None and command.source == "serial":
                # Marlin's queue writes lines to the open file instead of running them, until M29.
                if code == "M29":
                    self.reader.end_write()
                else:
                    self.reader.write(command.text)
                self._ok()
                self.queue.popleft()
                self._pump()
                self._sd_wake.set()
                continue
            if command.source == "sd":
                self.sd_executed.append(command.text)
            elif command.number is not None:
                action = self.at_line.pop(command.number, None)
                if action is not None:
                    self._inject(action)
                    if self.halted:
                        return
                    if not action.startswith("say:"):
                        continue
                self.executed.append((command.number, command.text))
            else:
                self.unnumbered.append(command.text)
            keepalive = asyncio.ensure_future(self._keepalive()) if code in BUSY_COMMANDS else None
            try:
                extra = await self._execute(command.text)
            finally:
                if keepalive is not None:
                    keepalive.cancel()
            if extra is not None and command.source == "serial":
                self._ok(extra)
            if self.queue and self.queue[0] is command:
                self.queue.popleft()
            self._pump()
            self._sd_wake.set()

    def _inject(self, action: str) -> None:
        if action.startswith("say:"):
            self._say(action[4:])
        elif action == "halt":
            self.halt()
        elif action == "runaway":
            self.thermal_runaway()
        elif action == "reset":
            self.reset()
            raise asyncio.CancelledError

    async def _keepalive(self) -> None:
        if not self.profile.host_keepalive:
            return
        while True:
            await asyncio.sleep(self.profile.busy_interval_s)
            self._say("echo:busy: processing")

    async def _execute(self, text: str) -> str | None:
        """Run one command; returns what follows `ok` on its line, or None when it replied itself."""
        code, _, rest = text.partition(" ")
        code = code.upper()
        words = {k: v for k, v in WORD_RE.findall(rest.upper())}

        def num(key: str, default: float = 0.0) -> float:
            try:
                return float(words[key])
            except (KeyError, ValueError):
                return default

        scale = self.profile.motion_scale
        if code in ("G0", "G1", "G2", "G3"):
            await self._move(words)
        elif code == "G28":
            await self._drain()
            await asyncio.sleep(3.0 * scale)
            self._position.update(X=0.0, Y=0.0, Z=0.0)
        elif code == "G29":
            await self._drain()
            await asyncio.sleep(8.0 * scale)
        elif code == "G4":
            await self._drain()
            await asyncio.sleep(num("P") / 1000 + num("S"))
        elif code == "M400":
            await self._drain()
        elif code == "G90":
            self._relative = False
        elif code == "G91":
            self._relative = True
        elif code == "G92":
            for axis in "XYZE":
                if axis in words:
                    self._position[axis] = num(axis)
        elif code in ("M104", "M109"):
            self.hotend.target = num("S", num("R"))
            if code == "M109":
                await self._wait_heater(self.hotend, cooling="R" in words)
        elif code in ("M140", "M190"):
            self.bed.target = num("S", num("R"))
            if code == "M190":
                await self._wait_heater(self.bed, cooling="R" in words)
        elif code == "M105":
            return " " + self.temperature_report()
        elif code == "M110":
            self.last_n = int(num("N", self.last_n))
        elif code == "M115":
            self._report_firmware()
        elif code == "M155":
            self._autoreport_s = num("S")
        elif code == "M73":
            self.progress = (int(num("P")), int(num("R")) if "R" in words else None)
        elif code in SD_COMMANDS:
            self._card_command(code, rest, words)
        elif code == "M117":
            self.message = rest
        elif code == "M112":
            self.stats.emergency_stops += 1
            self.halt()
            return None
        elif code and code[0] in "GMT" and code[1:].replace(".", "").isdigit():
            pass  # fans, units, extruder modes …: accepted, nothing to simulate
        else:
            self._say(f'echo:Unknown command: "{text}"')
        return ""

    async def _move(self, words: dict[str, str]) -> None:
        if words.get("F"):
            self._feed = float(words["F"]) or self._feed
        distance = 0.0
        for axis in "XYZE":
            if axis in words and words[axis] not in ("", "-", "."):
                value = float(words[axis])
                target = self._position[axis] + value if self._relative else value
                if axis != "E":
                    distance += (target - self._position[axis]) ** 2
                else:
                    distance = max(distance, (target - self._position[axis]) ** 2)
                self._position[axis] = target
        duration = math.sqrt(distance) / (self._feed / 60) * self.profile.motion_scale
        loop = asyncio.get_running_loop()
        while self._planner_free() <= 0:
            await asyncio.sleep(max(0.0005, self._moves[0] - loop.time()))
        start = max(loop.time(), self._moves[-1] if self._moves else 0.0)
        if duration > 0:
            self._moves.append(start + duration)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._moves:
            await asyncio.sleep(max(0.0005, self._moves[-1] - loop.time()))
            self._planner_free()

    async def _wait_heater(self, heater: Heater, cooling: bool) -> None:
        loop = asyncio.get_running_loop()
        while True:
            temp = heater.actual(loop.time())
            if heater.target <= 0 or abs(temp - heater.target) < 0.5 or (not cooling and temp >= heater.target):
                return
            self._say(" " + self.temperature_report() + " W:?")
            await asyncio.sleep(self.profile.wait_report_interval_s)

    def _card_command(self, code: str, rest: str, words: dict[str, str]) -> None:
        reader = self.reader
        if code == "M20":
            reader.listing()
        elif code == "M21":
            reader.mount()
        elif code == "M22":
            reader.mounted = False
        elif code == "M23":
            reader.select(rest)
        elif code == "M24":
            reader.start()
            self._sd_wake.set()
        elif code == "M25":
            reader.pause()
        elif code == "M27":
            reader.status(current_file="C" in words)
        elif code == "M28":
            reader.begin_write(rest)
        elif code == "M30":
            reader.delete(rest)
        elif code == "M524":
            reader.abort()
            # The commands already read from the card are dropped with the print.
            self.queue = deque(c for c in self.queue if c.source != "sd")

    async def _sd_feed(self) -> None:
        """Marlin's get_sdcard_commands: card lines fill the queue behind serial ones while printing."""
        while True:
            reader = self.reader
            if not reader.printing or self.halted or len(self.queue) >= self.profile.bufsize:
                self._sd_wake.clear()
                await self._sd_wake.wait()
                continue
            line = reader.next_line()
            if line is None:
                if not any(c.source == "sd" for c in self.queue):
                    reader.finished()
                    continue
                self._sd_wake.clear()
                await self._sd_wake.wait()
                continue
            text = line.split(";", 1)[0].strip()
            if text:
                self.queue.append(QueuedCommand(None, text, "sd"))
                self._queue_changed.set()

    def _report_firmware(self) -> None:
        p = self.profile
        self._say(f"FIRMWARE_NAME:{p.firmware_name} SOURCE_CODE_URL:github.com/MarlinFirmware/Marlin "
                  f"PROTOCOL_VERSION:1.0 MACHINE_TYPE:{p.machine_type} EXTRUDER_COUNT:1 "
                  "UUID:cede2a2f-41a2-4748-9b12-c55c62f367ff")
        caps = {
            "SERIAL_XON_XOFF": False, "BINARY_FILE_TRANSFER": False, "EEPROM": True, "VOLUMETRIC": True,
            "AUTOREPORT_POS": False, "AUTOREPORT_TEMP": p.autoreport_temp, "PROGRESS": p.progress_cap,
            "PRINT_JOB": True, "AUTOLEVEL": True, "Z_PROBE": True, "LEVELING_DATA": True,
            "SOFTWARE_POWER": False, "TOGGLE_LIGHTS": False, "CASE_LIGHT_BRIGHTNESS": False,
            "EMERGENCY_PARSER": p.emergency_parser, "HOST_ACTION_COMMANDS": False,
            "PROMPT_SUPPORT": False, "SDCARD": True, "ADVANCED_OK": p.advanced_ok, "THERMAL_PROTECTION": True,
        }
        for name, on in caps.items():
            self._say(f"Cap:{name}:{int(on)}")


async def _serve(args: argparse.Namespace) -> None:
    profile = FirmwareProfile(baud=args.baud, advanced_ok=not args.no_advanced_ok,
                              motion_scale=args.motion_scale, byte_error_rate=args.error_rate,
                              resend_dialect=args.resend_dialect)
    sim = MarlinSimulator(profile)
    port = await sim.start()
    print(port, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.close()


def main(argv: list[str] | None = None) -> None:
    """`python -m classroomd.simulators.marlin_firmware`: print the pty path, then serve until killed."""
    parser = argparse.ArgumentParser(description="a simulated Marlin printer on a pty")
    parser.add_argument("--baud", type=int, default=115200, help="wire pacing; 0 for none")
    parser.add_argument("--no-advanced-ok", action="store_true")
    parser.add_argument("--motion-scale", type=float, default=1.0)
    parser.add_argument("--error-rate", type=float, default=0.0, help="byte error rate host→printer")
    parser.add_argument("--resend-dialect", choices=sorted(RESEND_DIALECTS), default="marlin",
                        help="whose words resend requests are in")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()


__all__ = ["RESEND_DIALECTS", "FirmwareProfile", "MarlinSimulator", "checksum"]
