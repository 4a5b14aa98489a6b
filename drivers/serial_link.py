"""Serial ports on the asyncio loop: pyserial opens and configures, the loop reads.

The fd is owned by the event loop (`add_reader`), so there are no reader
threads, a vanished port surfaces as `LinkClosed` rather than a hang, and a
line is written with one `write()` call (byte-wise writes are several times
slower on the small hosts classrooms have).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from dataclasses import dataclass

import serial

from classroomd.drivers.framing import take_line


class LinkClosed(ConnectionError):
    """The port went away (unplugged, closed, or the peer hung up)."""


class LinkPermissionError(PermissionError):
    """The port exists but the daemon's user may not open it."""


@dataclass
class SerialSettings:
    baud: int = 115200
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    #: Opening a port toggles DTR, which resets many printer boards; panels want it untouched.
    dtr: bool | None = None
    rtscts: bool = False


class SerialLink:
    """A byte stream over a serial port (or a pty that stands in for one)."""

    def __init__(self, path: str, settings: SerialSettings | None = None) -> None:
        self.path = path
        self.settings = settings or SerialSettings()
        self._port: serial.Serial | None = None
        self._buffer = bytearray()
        self._data = asyncio.Event()
        self._closed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None and self._closed is None

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            port = serial.serial_for_url(
                self.path,
                baudrate=self.settings.baud,
                bytesize=self.settings.bytesize,
                parity=self.settings.parity,
                stopbits=self.settings.stopbits,
                rtscts=self.settings.rtscts,
                timeout=0,
                write_timeout=0,
                do_not_open=True,
                exclusive=True,
            )
            if self.settings.dtr is not None:
                port.dtr = self.settings.dtr
            port.open()
        except serial.SerialException as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
            code = getattr(exc, "errno", None) or (cause.errno if cause else None)
            if code in (errno.EACCES, errno.EPERM):
                raise LinkPermissionError(
                    f"{self.path}: permission denied; add the daemon's user to the group that "
                    "owns it (usually 'dialout') or install classroomd's udev rules"
                ) from exc
            raise LinkClosed(f"{self.path}: cannot open: {exc}") from exc
        self._port = port
        self._closed = None
        self._loop.add_reader(port.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        assert self._port is not None
        try:
            chunk = os.read(self._port.fileno(), 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(LinkClosed(f"{self.path}: {exc.strerror or exc}"))
            return
        if not chunk:
            self._fail(LinkClosed(f"{self.path}: the port hung up"))
            return
        self._buffer += chunk
        self._data.set()

    def _fail(self, exc: BaseException) -> None:
        if self._closed is None:
            self._closed = exc
        if self._port is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._port.fileno())
        self._data.set()

    async def write(self, data: bytes) -> None:
        """Write all of `data`, in one system call when the kernel buffer allows."""
        if self._port is None or self._closed is not None:
            raise self._closed or LinkClosed(f"{self.path}: not open")
        view = memoryview(data)
        fd = self._port.fileno()
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                await self._writable(fd)
                continue
            except OSError as exc:
                self._fail(LinkClosed(f"{self.path}: {exc.strerror or exc}"))
                raise self._closed or LinkClosed(self.path) from exc
            view = view[written:]

    async def _writable(self, fd: int) -> None:
        assert self._loop is not None
        ready = self._loop.create_future()
        self._loop.add_writer(fd, ready.set_result, None)
        try:
            await ready
        finally:
            self._loop.remove_writer(fd)

    async def read_some(self) -> bytes:
        """Whatever has arrived, waiting for at least one byte."""
        while not self._buffer:
            if self._closed is not None:
                raise self._closed
            self._data.clear()
            await self._data.wait()
        out = bytes(self._buffer)
        self._buffer.clear()
        return out

    async def readline(self, terminators: bytes = b"\n") -> bytes:
        """One line without its terminator; `\\r` before `\\n` is dropped too."""
        while True:
            line = take_line(self._buffer, terminators)
            if line is not None:
                return line
            if self._closed is not None:
                raise self._closed
            self._data.clear()
            await self._data.wait()

    def discard_input(self) -> None:
        self._buffer.clear()

    async def close(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(port.fileno())
        with contextlib.suppress(Exception):
            port.close()
        if self._closed is None:
            self._closed = LinkClosed(f"{self.path}: closed")
        self._data.set()
