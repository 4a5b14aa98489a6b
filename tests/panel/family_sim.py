"""TCP simulators of the binary/ASCII panel families (9-byte, LG, Samsung MDC), built from the profile tables.

Each models standby (only power commands work; others are refused the
family's way: `-`, `NG`, NAK) and can be switched to line noise.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from classroomd.drivers.panel_protocols import MDC_HEADER, Profile, load_profile, mdc_checksum, mdc_frame


@dataclass
class FamilySim:
    profile: Profile
    display_id: int = 1
    garbage: bool = False
    #: Wire values of power, input, volume, mute.
    state: dict[str, Any] = field(default_factory=dict)
    received: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @classmethod
    def of(cls, name: str) -> FamilySim:
        profile = load_profile(name)
        power, mute = profile.commands["power"].write, profile.commands["mute"].write
        return cls(profile, state={"power": power["standby"], "input": profile.inputs["hdmi2"], "volume": 30,
                                   "mute": mute["off"]})

    async def start(self) -> FamilySim:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)

    @property
    def awake(self) -> bool:
        return bool(self.state["power"] == self.profile.commands["power"].write["on"])

    def _what(self, code: Any) -> str | None:
        for what, spec in self.profile.commands.items():
            if code in (spec.set, spec.get):
                return what
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        self.writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(1024):
                buffer += chunk
                while (request := self._take(buffer)) is not None:
                    self.received.append(request)
                    reply = b"\x13\x37 garbled \xfe" if self.garbage else self._answer(request)
                    writer.write(reply)
                    await writer.drain()
        writer.close()

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

    def _answer(self, request: bytes) -> bytes:
        return {"nine-byte": self._nine_byte, "lg": self._lg, "mdc": self._mdc}[self.profile.family](request)

    def _allowed(self, what: str | None) -> bool:
        return what is not None and (what == "power" or self.awake)

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
            return f"8{ident}r{code}{current}\r".encode()
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
