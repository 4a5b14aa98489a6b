"""A byte stream over TCP with the small API of `SerialLink`, for panels controlled over the LAN.

Protocol modules and devices see the same `open`/`write`/`read_some`/`readline`/
`discard_input`/`close` whichever cable the panel hangs on; a dropped or refused
connection surfaces as `LinkClosed`, as an unplugged serial adapter does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from classroomd.drivers.framing import take_line
from classroomd.drivers.serial_link import LinkClosed


class TcpLink:
    def __init__(self, host: str, port: int, connect_timeout_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.path = f"tcp://{host}:{port}"
        self.connect_timeout_s = connect_timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._buffer = bytearray()
        self._closed: BaseException | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None and self._closed is None

    async def open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout_s)
        except TimeoutError:
            raise LinkClosed(f"{self.path}: no answer within {self.connect_timeout_s:g}s") from None
        except OSError as exc:
            raise LinkClosed(f"{self.path}: cannot connect: {exc.strerror or exc}") from exc
        self._buffer.clear()
        self._closed = None

    async def start_tls(self, context: ssl.SSLContext, timeout_s: float = 5.0) -> None:
        """Upgrade the open connection to TLS in place (protocols that start in clear, like Samsung's)."""
        if self._writer is None or self._closed is not None:
            raise self._closed or LinkClosed(f"{self.path}: not open")
        try:
            await asyncio.wait_for(self._writer.start_tls(context), timeout_s)
        except TimeoutError:
            raise self._fail(f"no TLS handshake within {timeout_s:g}s") from None
        except (ssl.SSLError, ConnectionError, OSError) as exc:
            raise self._fail(f"TLS handshake failed: {exc}") from exc
        self._buffer.clear()

    def _fail(self, reason: str) -> LinkClosed:
        if self._closed is None:
            self._closed = LinkClosed(f"{self.path}: {reason}")
        return self._closed if isinstance(self._closed, LinkClosed) else LinkClosed(str(self._closed))

    async def write(self, data: bytes) -> None:
        if self._writer is None or self._closed is not None:
            raise self._closed or LinkClosed(f"{self.path}: not open")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise self._fail(str(exc) or "connection lost") from exc

    async def _fill(self) -> None:
        if self._reader is None or self._closed is not None:
            raise self._closed or LinkClosed(f"{self.path}: not open")
        try:
            chunk = await self._reader.read(4096)
        except (ConnectionError, OSError) as exc:
            raise self._fail(str(exc) or "connection lost") from exc
        if not chunk:
            raise self._fail("the peer closed the connection")
        self._buffer += chunk

    async def read_some(self) -> bytes:
        """Whatever has arrived, waiting for at least one byte."""
        if not self._buffer:
            await self._fill()
        out = bytes(self._buffer)
        self._buffer.clear()
        return out

    async def readline(self, terminators: bytes = b"\n") -> bytes:
        """One line without its terminator; `\\r` before `\\n` is dropped too."""
        while True:
            line = take_line(self._buffer, terminators)
            if line is not None:
                return line
            await self._fill()

    def discard_input(self) -> None:
        self._buffer.clear()

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        self._reader = None
        if self._closed is None:
            self._closed = LinkClosed(f"{self.path}: closed")
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
