"""Test videos with known frames, and an AVI reader that shares no code with the daemon."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def frame_image(index: int, width: int, height: int, noise: bool = False) -> np.ndarray[Any, Any]:
    """A frame whose content says its index (big digits) and differs from every other frame."""
    rng = np.random.default_rng(index)
    if noise:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    else:
        image = np.full((height, width, 3), (40 + 7 * index % 200, 90, 160), np.uint8)
    cv2.putText(image, str(index), (width // 8, height * 2 // 3), cv2.FONT_HERSHEY_SIMPLEX,
                height / 80, (255, 255, 255), max(2, height // 40))
    cv2.rectangle(image, (index % width, 0), (index % width + 4, 8), (0, 0, 255), -1)
    return image


def write_mjpg(path: Path, frames: int = 30, width: int = 320, height: int = 240, fps: float = 30,
               noise: bool = False) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), f"cannot write {path}"
    for i in range(frames):
        writer.write(frame_image(i, width, height, noise))
    writer.release()
    return path


def avi_video_packets(path: Path) -> list[bytes]:
    """The payloads of the AVI's video chunks (`##dc`), in file order, read straight from RIFF."""
    data = path.read_bytes()
    out: list[bytes] = []

    def walk(start: int, end: int) -> None:
        pos = start
        while pos + 8 <= end:
            fourcc = data[pos:pos + 4]
            (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
            body = pos + 8
            if fourcc in (b"RIFF", b"LIST"):
                walk(body + 4, body + size)
            elif fourcc[2:] == b"dc" and size:
                out.append(data[body:body + size])
            pos = body + size + (size & 1)

    walk(0, len(data))
    return out
