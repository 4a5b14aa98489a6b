"""Simulators of the 9-byte (ViewSonic, BenQ), LG and Samsung MDC panel families, over TCP or a pty.

Each models standby (only power commands work; the rest are refused the family's
way: `-`, `NG`, NAK) and can be switched to line noise. Where a vendor documents
behaviour that a profile could get wrong, the simulator follows the vendor's
document, not the profile, so the tests catch a wrong profile:

- ViewSonic answers an input read with a signal digit first (`104`: HDMI1, source live);
- LG reports a port's PC-mode code (`A0`) when its label is PC;
- BenQ accepts only the codes of its own sheet (power off `002`, HDMI1 `001` …) and, on a
  serial line, only the baud rate its model is fixed at;
- a Samsung display set to Secured Protocol opens with `MDCSTART<<TLS>>`, then wants TLS
  and its PIN;
- a panel may sleep off the LAN: its control port closes in standby; when
  a Wake-on-LAN magic packet for its MAC arrives on its UDP port it comes on and listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import termios
import tty
from dataclasses import dataclass, field
from typing import Any

from classroomd.drivers.panel_protocols import MDC_HEADER, Profile, load_profile, mdc_checksum, mdc_frame

# BenQ's own codes (BenQ sheet quoted by RS232-Monitor-Database database/monitors/benq.json, RP654K).
BENQ_POWER = {"001": "on", "002": "standby"}
BENQ_INPUTS = {"000", "001", "002", "003", "021", "022", "031", "101", "103"}
# LG "xb": the PC-mode code each DTV-mode port reports when labelled PC (PlaceOS drivers/lg/displays/ls5.cr).
LG_PC_MODE = {"90": "A0", "91": "A1", "98": "A8", "C0": "D0"}
# Samsung Secured Protocol, byte for byte (WeeJeWel/node-samsung-mdc lib/Device.mjs).
MDC_TLS_BANNER = b"MDCSTART<<TLS>>"
MDC_AUTH_PASS = b"MDCAUTH<<PASS>>"
MDC_AUTH_WRONG_PIN = b"MDCAUTH<<FAIL:0x01>>"
BAUDS = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400}


@dataclass
class FamilySim:
    profile: Profile
    display_id: int = 1
    garbage: bool = False
    #: Wire values of power, input, volume, mute.
    state: dict[str, Any] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)
    port: int = 0
    #: ViewSonic: a source is connected, so input reads start with "1".
    signal: bool = True
    #: LG: the inputs are labelled PC, so reads give the PC-mode codes.
    pc_mode: bool = False
    #: Samsung Secured Protocol: the PIN it wants after TLS (None: plain MDC).
    secured_pin: str | None = None
    tls_context: ssl.SSLContext | None = None
    #: Wake-on-LAN: its MAC; with `sleeps_off_lan` the control port is closed in standby.
    mac: str | None = None
    sleeps_off_lan: bool = False
    #: Seconds from a magic packet to the control port opening.
    boot_s: float = 0.0
    #: Every datagram that arrived on the Wake-on-LAN port, as received.
    magic_packets: list[bytes] = field(default_factory=list)
    wol_port: int = 0
    logins: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._master = self._slave = -1
        self.pty_path = ""
        self._baud: int | None = None
        self._pty_buffer = bytearray()

    @classmethod
    def of(cls, name: str, **kwargs: Any) -> FamilySim:
        profile = load_profile(name)
        power, mute = profile.commands["power"].write, profile.commands["mute"].write
        return cls(profile, state={"power": power["standby"], "input": profile.inputs["hdmi2"], "volume": 30,
                                   "mute": mute["off"]}, **kwargs)

    @property
    def vendor(self) -> str:
        return self.profile.vendor

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> FamilySim:
        await self._listen()
        if self.sleeps_off_lan and not self.awake:
            await self._stop_listening()  # asleep off the LAN; it keeps its port number for waking up
        if self.mac is not None:
            loop = asyncio.get_running_loop()
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _MagicListener(self), local_addr=("127.0.0.1", 0))
            self.wol_port = int(self._udp.get_extra_info("sockname")[1])
        return self

    async def close(self) -> None:
        await self._stop_listening()
        if self._udp is not None:
            self._udp.close()
        loop = asyncio.get_running_loop()
        if self._master >= 0:
            with contextlib.suppress(Exception):
                loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _stop_listening(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def awake(self) -> bool:
        return bool(self.state["power"] == self.profile.commands["power"].write["on"])

    # --- Wake-on-LAN -----------------------------------------------------------------------------
    def magic(self, packet: bytes) -> None:
        self.magic_packets.append(packet)
        assert self.mac is not None
        # The magic packet as AMD's white paper defines it: 6 x 0xFF, then the MAC 16 times.
        if packet == b"\xff" * 6 + bytes.fromhex(self.mac.replace(":", "").replace("-", "")) * 16:
            asyncio.get_running_loop().call_later(self.boot_s, lambda: asyncio.ensure_future(self._woken()))

    async def _woken(self) -> None:
        self.state["power"] = self.profile.commands["power"].write["on"]
        if self._server is None:
            await self._listen()

    def _went_to_standby(self) -> None:
        if self.sleeps_off_lan:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._stop_listening()))

    # --- a serial line at a fixed rate -----------------------------------------------------------
    async def start_pty(self, baud: int) -> str:
        """Serve on a pseudo-terminal that only understands `baud`, as a panel fixed at that rate."""
        self._baud = baud
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.pty_path = os.ttyname(self._slave)
        os.set_blocking(self._master, False)
        asyncio.get_running_loop().add_reader(self._master, self._on_pty)
        return self.pty_path

    def _on_pty(self) -> None:
        try:
            chunk = os.read(self._master, 4096)
        except OSError:
            return
        # The line's rate is what the driver set on the tty; at another rate the panel hears noise.
        speed = termios.tcgetattr(self._slave)[4]
        if self._baud is not None and speed != BAUDS[self._baud]:
            return
        self._pty_buffer += chunk
        while (request := self._take(self._pty_buffer)) is not None:
            self.received.append(request)
            with contextlib.suppress(OSError):
                os.write(self._master, self._reply(request))

    # --- TCP -------------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        buffer = bytearray()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            if self.secured_pin is not None and not await self._secure(reader, writer):
                writer.close()
                return
            while chunk := await reader.read(1024):
                buffer += chunk
                while (request := self._take(buffer)) is not None:
                    self.received.append(request)
                    writer.write(self._reply(request))
                    await writer.drain()
        writer.close()

    async def _secure(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Secured Protocol: banner in clear, TLS, then the PIN; the panel says PASS or FAIL."""
        writer.write(MDC_TLS_BANNER)
        await writer.drain()
        assert self.tls_context is not None, "a secured simulator needs a server TLS context"
        await writer.start_tls(self.tls_context)
        pin = await reader.read(64)
        self.logins.append(pin)
        if pin.decode("ascii", "replace") != self.secured_pin:
            writer.write(MDC_AUTH_WRONG_PIN)
            await writer.drain()
            return False
        writer.write(MDC_AUTH_PASS)
        await writer.drain()
        return True

    def _take(self, buffer: bytearray) -> bytes | None:
        if self.profile.family == "mdc":
            start = buffer.find(bytes([MDC_HEADER]))
            if start < 0 or len(buffer) < start + 4 or len(buffer) < start + 5 + buffer[start + 3]:
                return None
            end = start + 5 + buffer[start + 3]
        else:
            cr = buffer.find(b"\r")
            if cr < 0:
                return None
            start, end = 0, cr + 1
        request = bytes(buffer[start:end])
        del buffer[:end]
        return request

    def _reply(self, request: bytes) -> bytes:
        if self.garbage:
            return b"\x13\x37 garbled \xfe"
        was_awake = self.awake
        reply = {"nine-byte": self._nine_byte, "lg": self._lg, "mdc": self._mdc}[self.profile.family](request)
        if was_awake and not self.awake:
            self._went_to_standby()
        return reply

    # --- the families ----------------------------------------------------------------------------
    def _what(self, code: Any) -> str | None:
        for what, spec in self.profile.commands.items():
            if code in (spec.set, spec.get):
                return what
        return None

    def _allowed(self, what: str | None) -> bool:
        return what is not None and (what == "power" or self.awake)

    def _documented(self, what: str, value: str) -> bool:
        """Whether the vendor's own sheet has this value (BenQ refuses ViewSonic's codes)."""
        if self.vendor != "BenQ":
            return True
        if what == "power":
            return value in BENQ_POWER
        if what == "input":
            return value in BENQ_INPUTS
        return True

    def _nine_byte(self, request: bytes) -> bytes:
        text = request.decode("ascii").rstrip("\r")
        ident, kind, code, value = text[1:3], text[3], text[4], text[5:8]
        what = self._what(code)
        if not self._allowed(what) or int(ident) != self.display_id:
            return f"4{ident}-\r".encode()
        assert what is not None
        if kind == "g":
            current = self.state[what]
            current = f"{current:03d}" if isinstance(current, int) else current
            if what == "input" and self.vendor == "ViewSonic":
                current = ("1" if self.signal else "0") + current[1:]
            return f"8{ident}r{code}{current}\r".encode()
        if not self._documented(what, value):
            return f"4{ident}-\r".encode()
        self.state[what] = int(value) if what == "volume" else value
        return f"4{ident}+\r".encode()

    def _lg(self, request: bytes) -> bytes:
        code, ident, data = request.decode("ascii").split()
        what = self._what(code)
        if not self._allowed(what):
            return f"{code[1]} {ident} NG{data}x".encode()
        assert what is not None
        if data.upper() != "FF":
            self.state[what] = int(data, 16) if what == "volume" else data.upper()
        current = self.state[what]
        current = f"{current:02X}" if isinstance(current, int) else current
        if what == "input" and self.pc_mode:
            current = LG_PC_MODE.get(current, current)
        return f"{code[1]} {ident} OK{current}x".encode()

    def _mdc(self, request: bytes) -> bytes:
        command, ident, length = request[1], request[2], request[3]
        assert mdc_checksum(request[1:-1]) == request[-1], "the client sent a bad checksum"
        what = self._what(command)
        if not self._allowed(what):
            return mdc_frame(0xFF, ident, bytes([ord("N"), command, 0x01]))
        assert what is not None
        if length:
            self.state[what] = request[4]
        return mdc_frame(0xFF, ident, bytes([ord("A"), command, int(self.state[what])]))


class _MagicListener(asyncio.DatagramProtocol):
    def __init__(self, sim: FamilySim) -> None:
        self.sim = sim

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.sim.magic(data)
