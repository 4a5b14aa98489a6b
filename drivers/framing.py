"""Cutting lines out of a receive buffer: shared by the serial and TCP links."""

from __future__ import annotations


def take_line(buffer: bytearray, terminators: bytes = b"\n") -> bytes | None:
    """Remove and return the first line (without its terminator, nor a `\\r` before it), or None
    when no terminator has arrived yet. Any byte of `terminators` ends a line."""
    positions = [i for i in (buffer.find(t) for t in terminators) if i >= 0]
    if not positions:
        return None
    end = min(positions)
    line = bytes(buffer[:end])
    del buffer[: end + 1]
    return line.rstrip(b"\r")
