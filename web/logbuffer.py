"""The last log lines in memory, for the engineer's console: no journalctl needed to see why a device failed."""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

LINES = 500


class RingBuffer(logging.Handler):
    def __init__(self, size: int = LINES) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[dict[str, Any]] = deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the daemon's logging
            message = str(record.msg)
        self.lines.append({
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "device": str(getattr(record, "device", "-")),
            "msg": message,
        })

    def select(self, device: str | None = None, limit: int = LINES) -> list[dict[str, Any]]:
        lines = [line for line in self.lines if device in (None, "", line["device"])]
        return lines[-limit:]


_BUFFER: RingBuffer | None = None


def buffer() -> RingBuffer:
    """The process's one buffer, on the `classroomd` logger: `logs.setup` replaces the root's handlers,
    not this one's, so the buffer survives whatever logging the daemon configures later."""
    global _BUFFER
    if _BUFFER is None:
        _BUFFER = RingBuffer()
        logging.getLogger("classroomd").addHandler(_BUFFER)
    return _BUFFER
