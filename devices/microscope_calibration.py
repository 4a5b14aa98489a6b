"""Calibration of a microscope: µm per pixel per magnification preset.

The math turns two points on a stage micrometer image into µm per pixel; the
book keeps one entry per preset in a JSON file (the device puts it in its
state_dir) so a calibration survives restarts, and starts from the config's values.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def um_per_px(p1: tuple[float, float], p2: tuple[float, float], distance_um: float) -> tuple[float, float]:
    """(µm per pixel, pixel distance) from two points a known distance apart."""
    pixels = math.hypot(p2[0] - p1[0], p2[1] - p1[1])
    if pixels < 2:
        raise ValueError("the two points are less than 2 pixels apart")
    if distance_um <= 0:
        raise ValueError("the distance must be positive")
    return distance_um / pixels, pixels


class CalibrationBook:
    """µm per pixel per magnification preset of one microscope, kept in state_dir."""

    def __init__(self, path: Path, defaults: Mapping[str, float]) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {k: {"um_per_px": v, "source": "config"} for k, v in defaults.items()}
        with contextlib.suppress(OSError, ValueError):
            stored = json.loads(path.read_text())
            if isinstance(stored, dict):
                self.entries.update({k: v for k, v in stored.items() if isinstance(v, dict) and "um_per_px" in v})

    def get(self, preset: str) -> float | None:
        entry = self.entries.get(preset)
        return float(entry["um_per_px"]) if entry else None

    def set(self, preset: str, entry: dict[str, Any]) -> None:
        self.entries[preset] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: v for k, v in self.entries.items() if v.get("source") != "config"}, indent=1))
        tmp.replace(self.path)

    def summary(self) -> dict[str, float]:
        return {k: round(float(v["um_per_px"]), 6) for k, v in self.entries.items()}
