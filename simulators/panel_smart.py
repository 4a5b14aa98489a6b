"""A SMART Board 6000S / MX control port on a pseudo-terminal, for the demo and the tests.

It speaks the room-control protocol the panel does at 19200 8N1: ASCII,
case-insensitive, one command per CR-terminated line, each reply followed by
the prompt `>`; errors are `invalid cmd: …`; outside the ON/READY power
states only `powerstate` is answered. Switches let tests make it go silent,
babble line noise, refuse to power on, or take a while to boot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from dataclasses import dataclass, field

# What each model family's manual lists for "set input" (SMART kb/171414 Appendix C p.79 and
# Appendix D; kb/171555 Appendix D for the MX). A name outside its list is "invalid cmd".
INPUTS: dict[str, tuple[str, ...]] = {
    "6000s": ("hdmi1", "hdmi2", "hdmi3", "vga1", "ops1", "usbc1", "android"),
    "6000s-v3": ("hdmi1", "hdmi2", "hdmi3", "vga1", "ops1", "usbc1", "usbc2", "android"),
    "mx": ("ops", "hdmi1", "hdmi2", "hdmi3", "vga"),
}
#: Power states in which commands other than powerstate are answered, and the states "set" accepts.
AWAKE: dict[str, tuple[str, ...]] = {"6000s": ("on", "ready"), "6000s-v3": ("on", "ready"), "mx": ("on",)}
SETTABLE: dict[str, tuple[str, ...]] = {"6000s": ("on", "ready", "standby"), "6000s-v3": ("on", "ready", "standby"),
                                        "mx": ("on", "ready")}


@dataclass
class SmartPanelState:
    power: str = "standby"
    input: str = "hdmi2"
    volume: int = 40
    mute: bool = False


@dataclass
class SmartPanelSim:
    state: SmartPanelState = field(default_factory=SmartPanelState)
    #: Which manual's input list and power states it follows: "6000s", "6000s-v3" or "mx".
    model: str = "6000s"
    #: Seconds between "set powerstate=on" and the panel reporting on; meanwhile it reports standby.
    boot_s: float = 0.0
    #: False: the panel hears nothing (cable pulled, panel unplugged from the mains).
    responsive: bool = True
    #: True: every reply is replaced by line noise.
    garbage: bool = False
    #: True: "set powerstate=on" is refused (a panel whose power is locked).
    refuse_power_on: bool = False
    #: Every command line received, in order, as the panel saw it.
    received: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._master = -1
        self._slave = -1
        self._path = ""
        self._buffer = bytearray()
        self._booting: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def path(self) -> str:
        """The serial side (what a `port =` entry points at)."""
        return self._path

    async def start(self) -> SmartPanelSim:
        self._loop = asyncio.get_running_loop()
        self._master, self._slave = os.openpty()
        # Raw on the serial side, so the kernel neither echoes nor rewrites CR before the driver opens it.
        tty.setraw(self._slave)
        self._path = os.ttyname(self._slave)
        os.set_blocking(self._master, False)
        self._loop.add_reader(self._master, self._on_readable)
        return self

    async def close(self) -> None:
        if self._booting is not None:
            self._booting.cancel()
        if self._loop is not None and self._master >= 0:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    # --- the wire --------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while no one has the serial side open: nothing to answer
        self._buffer += chunk
        while True:
            ends = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line = self._buffer[:end].decode("ascii", "replace").strip()
            del self._buffer[: end + 1]
            self._line(line)

    def _line(self, line: str) -> None:
        if not self.responsive:
            return
        if not line:
            self._send(b"\r\n>")
            return
        self.received.append(line)
        reply = self.handle(line)
        if reply is None:
            return
        if self.garbage:
            self._send(b"\x00\xff#@!~~\xfe\r\n")
            return
        self._send(f"{reply}\r\n>".encode("ascii"))

    def _send(self, data: bytes) -> None:
        if self._master < 0:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._master, data)

    # --- the panel -------------------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        """The reply text to one command line (None: the panel is busy and says nothing)."""
        s = self.state
        awake = AWAKE[self.model]
        verb, _, rest = line.lower().partition(" ")
        rest = rest.strip()
        invalid = f"invalid cmd: {line}"
        if verb == "get" and rest == "powerstate":
            return f"powerstate={s.power}"
        if verb == "set" and rest.startswith("powerstate="):
            wanted = rest.partition("=")[2].strip()
            if wanted == "on":
                if self.refuse_power_on:
                    return invalid
                if s.power not in awake and self.boot_s > 0:
                    if self._booting is None:
                        assert self._loop is not None
                        self._booting = self._loop.call_later(self.boot_s, self._booted)
                    return "powerstate=on"
                s.power = "on"
            elif wanted in SETTABLE[self.model]:
                s.power = wanted
            else:
                return invalid
            return f"powerstate={s.power}"
        if s.power not in awake or verb not in ("get", "set"):
            return invalid
        if verb == "get":
            values = {"input": s.input, "volume": str(s.volume), "mute": "on" if s.mute else "off"}
            return f"{rest}={values[rest]}" if rest in values else invalid
        return self._set(rest, invalid)

    def _set(self, rest: str, invalid: str) -> str:
        s = self.state
        for name in ("input", "volume", "mute"):
            if not rest.startswith(name):
                continue
            op, value = rest[len(name):len(name) + 1], rest[len(name) + 1:].strip()
            if name == "input" and op == "=" and value in INPUTS[self.model]:
                s.input = value
                return f"input={s.input}"
            if name == "volume" and op in "=+-" and op and value.isdigit():
                level = int(value)
                s.volume = max(0, min(100, level if op == "=" else s.volume + (level if op == "+" else -level)))
                return f"volume={s.volume}"
            if name == "mute" and op == "=" and value in ("on", "off"):
                s.mute = value == "on"
                return f"mute={value}"
        return invalid

    def _booted(self) -> None:
        self._booting = None
        self.state.power = "on"
