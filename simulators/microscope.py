"""Demo microscope: a synthetic specimen (cells drifting slowly) rendered once into a looped MJPG file.

The daemon opens it through the ordinary microscope device and the same
OpenCV capture path as a real camera (`source = "file://…"`), so the demo
streams the file's JPEG frames untouched.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from classroomd.config.schema import DeviceConfig
from classroomd.simulators.base import DemoDevice

WIDTH, HEIGHT = 1280, 720
FPS = 15
SECONDS = 4
VERSION = 1  # bump when the picture changes, so cached renders are redone


@dataclass(frozen=True)
class Cell:
    x: float
    y: float
    rx: float
    ry: float
    angle: float
    phase: float
    wobble: float
    hue: tuple[int, int, int]


def _cells(rng: np.random.Generator, count: int) -> list[Cell]:
    cells = []
    for _ in range(count):
        rx = float(rng.uniform(38, 70))
        cells.append(Cell(
            x=float(rng.uniform(0, WIDTH)), y=float(rng.uniform(0, HEIGHT)),
            rx=rx, ry=rx * float(rng.uniform(0.55, 0.9)), angle=float(rng.uniform(0, 180)),
            phase=float(rng.uniform(0, 2 * math.pi)), wobble=float(rng.uniform(4, 14)),
            hue=(int(rng.integers(150, 190)), int(rng.integers(170, 210)), int(rng.integers(120, 160))),
        ))
    return cells


def _background(rng: np.random.Generator) -> np.ndarray[Any, Any]:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    # Köhler illumination is never perfectly even: a soft bright centre.
    r = np.hypot((xx - WIDTH / 2) / WIDTH, (yy - HEIGHT / 2) / HEIGHT)
    light = (232 - 60 * r).clip(0, 255)
    grain = rng.normal(0, 3, (HEIGHT, WIDTH)).astype(np.float32)
    base = np.stack([light * 0.86 + grain, light * 0.95 + grain, light * 0.90 + grain], axis=-1)
    out: np.ndarray[Any, Any] = base.clip(0, 255).astype(np.uint8)
    return out


def _vignette() -> np.ndarray[Any, Any]:
    """The round field of view of an eyepiece camera."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    d = np.hypot(xx - WIDTH / 2, yy - HEIGHT / 2) / (HEIGHT * 0.7)
    out: np.ndarray[Any, Any] = np.clip(1.25 - d ** 6, 0, 1)[..., None].astype(np.float32)
    return out


def render_frame(t: float, cells: list[Cell], background: np.ndarray[Any, Any],
                 vignette: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The specimen at phase t in [0, 1): everything moves on closed paths, so the loop is seamless."""
    image = background.copy()
    angle = 2 * math.pi * t
    drift_x, drift_y = 40 * math.cos(angle), 22 * math.sin(angle)
    for cell in cells:
        cx = (cell.x + drift_x + cell.wobble * math.cos(angle + cell.phase)) % (WIDTH + 160) - 80
        cy = (cell.y + drift_y + cell.wobble * math.sin(2 * angle + cell.phase)) % (HEIGHT + 160) - 80
        center = (int(cx), int(cy))
        axes = (int(cell.rx), int(cell.ry))
        rot = cell.angle + 6 * math.sin(angle + cell.phase)
        cv2.ellipse(image, center, axes, rot, 0, 360, cell.hue, -1, cv2.LINE_AA)
        cv2.ellipse(image, center, axes, rot, 0, 360, (70, 95, 60), 3, cv2.LINE_AA)
        nx = int(cx + cell.rx * 0.3 * math.cos(math.radians(rot) + cell.phase))
        ny = int(cy + cell.ry * 0.3 * math.sin(math.radians(rot) + cell.phase))
        cv2.circle(image, (nx, ny), max(6, int(cell.ry * 0.28)), (110, 70, 130), -1, cv2.LINE_AA)
        cv2.circle(image, (nx, ny), max(2, int(cell.ry * 0.08)), (70, 40, 90), -1, cv2.LINE_AA)
    image = cv2.GaussianBlur(image, (3, 3), 0)
    out: np.ndarray[Any, Any] = (image.astype(np.float32) * vignette).astype(np.uint8)
    return out


def render_video(path: Path, seconds: float = SECONDS, fps: int = FPS, seed: int = 95) -> Path:
    """Write the looped specimen video (MJPG in AVI). Blocking: run it in a thread."""
    rng = np.random.default_rng(seed)
    cells = _cells(rng, 26)
    background = _background(rng)
    vignette = _vignette()
    tmp = path.with_name(path.stem + ".partial.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"MJPG"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {tmp}")
    frames = int(seconds * fps)
    try:
        for i in range(frames):
            writer.write(render_frame(i / frames, cells, background, vignette))
    finally:
        writer.release()
    tmp.replace(path)
    return path


async def start_demo(workdir: Path) -> DemoDevice:
    workdir.mkdir(parents=True, exist_ok=True)
    video = workdir / f"specimen-{WIDTH}x{HEIGHT}-v{VERSION}.avi"
    if not video.exists():
        await asyncio.to_thread(render_video, video)
    config = DeviceConfig.model_validate({
        "id": "scope-1",
        "kind": "microscope",
        "name": "Demo microscope",
        "source": video.resolve().as_uri(),
        "width": WIDTH,
        "height": HEIGHT,
        "fps": FPS,
        "presets": ["4x", "10x", "40x"],
        "magnification": "10x",
        # A plausible 10x objective on a 1280-px sensor; `calibrate` replaces it.
        "calibration": {"10x": 0.85},
    })

    async def close() -> None:
        return None

    return DemoDevice(config=config, close=close)
