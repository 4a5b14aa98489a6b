"""Fixed-size reports from a `/dev/hidraw*` node, read on the asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os

from classroomd.drivers.serial_link import LinkClosed, LinkPermissionError


class HidrawLink:
    def __init__(self, path: str, report_size: int) -> None:
        self.path = path
        self.report_size = report_size
        self._fd: int | None = None
        self._reports: asyncio.Queue[bytes | BaseException] = asyncio.Queue(maxsize=256)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except PermissionError as exc:
            raise LinkPermissionError(f"no permission to read {self.path}; install classroomd's udev rules") from exc
        except OSError as exc:
            raise LinkClosed(f"cannot open {self.path}: {exc.strerror}") from exc
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._on_readable)

    def _on_readable(self) -> None:
        assert self._fd is not None
        try:
            # hidraw hands out one whole report per read().
            report = os.read(self._fd, 64)
        except BlockingIOError:
            return
        except OSError as exc:
            reason = "unplugged" if exc.errno == errno.ENODEV else exc.strerror
            self._stop_reading()
            self._reports.put_nowait(LinkClosed(f"{self.path}: {reason}"))
            return
        if not report:
            self._stop_reading()
            self._reports.put_nowait(LinkClosed(f"{self.path}: closed"))
            return
        if not self._reports.full():
            self._reports.put_nowait(report)

    def _stop_reading(self) -> None:
        if self._loop is not None and self._fd is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._fd)

    async def read_report(self) -> bytes:
        item = await self._reports.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        self._stop_reading()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
