"""Cutting lines and frames out of a receive buffer: shared by the links and the panel codecs."""

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


def take_until(buffer: bytearray, terminator: bytes) -> bytes | None:
    """Remove and return the bytes before the first `terminator` (which is dropped too), or None
    when it has not arrived yet: the framing of every panel protocol that ends replies with a marker."""
    end = buffer.find(terminator)
    if end < 0:
        return None
    frame = bytes(buffer[:end])
    del buffer[: end + len(terminator)]
    return frame
