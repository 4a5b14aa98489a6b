"""µm per pixel from a stage micrometer: the math, persistence, and refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from classroomd.devices.base import RequestError
from classroomd.devices.microscope_calibration import CalibrationBook, um_per_px
from tests.support.host import RecordingHost

MakeScope = Callable[..., Any]


def test_um_per_px_is_distance_over_pixel_length() -> None:
    # 100 µm of a stage micrometer spans a 3-4-5 triangle of 300 × 400 px = 500 px.
    value, pixels = um_per_px((100, 100), (400, 500), 100.0)
    assert pixels == pytest.approx(500.0)
    assert value == pytest.approx(0.2)
    assert um_per_px((0, 0), (1000, 0), 1000)[0] == pytest.approx(1.0)


def test_points_too_close_are_refused() -> None:
    with pytest.raises(ValueError, match="2 pixels"):
        um_per_px((10, 10), (10.5, 10.5), 10)


def test_book_keeps_calibrations_per_preset_over_config_defaults(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    book = CalibrationBook(path, {"10x": 0.85, "40x": 0.2})
    book.set("10x", {"um_per_px": 0.81, "source": "calibrate"})
    again = CalibrationBook(path, {"10x": 0.85, "40x": 0.2})
    assert again.get("10x") == pytest.approx(0.81)
    assert again.get("40x") == pytest.approx(0.2)
    assert again.get("100x") is None


async def test_calibrate_request_stores_and_applies_to_captures(make_scope: MakeScope, video: Path,
                                                                 host: RecordingHost) -> None:
    scope = await make_scope(video, presets=["4x", "10x"], magnification="10x")
    reply = await scope.request("calibrate", {"points": [[10, 20], [310, 20]], "distance_um": 150})
    assert reply["um_per_px"] == pytest.approx(0.5) and reply["magnification"] == "10x"
    assert scope.snapshot()["calibration"]["10x"] == pytest.approx(0.5)
    captured = await scope.request("capture", {})
    assert captured["um_per_px"] == pytest.approx(0.5) and captured["magnification"] == "10x"
    item = host.media.get(captured["media_id"])
    assert item is not None
    sidecar = item.meta
    assert sidecar["um_per_px"] == pytest.approx(0.5)
    # A preset without calibration records none rather than a wrong one.
    other = await scope.request("capture", {"magnification": "4x"})
    assert other["um_per_px"] is None


@pytest.mark.parametrize(("args", "code"), [
    ({"points": [[10, 10], [10, 10]], "distance_um": 10}, "bad_points"),
    ({"points": [[10, 10], [5000, 10]], "distance_um": 10}, "bad_points"),
    ({"points": [[-1, 10], [50, 10]], "distance_um": 10}, "bad_points"),
    ({"points": [[10, 10], [50, 10]], "distance_um": -3}, "invalid_arguments"),
    ({"points": [[10, 10]], "distance_um": 10}, "invalid_arguments"),
    ({"points": [[10, 10], [50, 10]], "distance_um": 10, "magnification": "1000x"}, "unknown_preset"),
    ({"points": [[10, 10], [50, 10]], "distance_um": 10, "media": "20990101-000000-aaaaaaaa"}, "unknown_media"),
])
async def test_bad_calibrations_get_clear_errors(make_scope: MakeScope, video: Path, args: dict[str, Any],
                                                 code: str) -> None:
    scope = await make_scope(video)
    with pytest.raises(RequestError) as err:
        await scope.request("calibrate", args)
    assert err.value.code == code
    assert err.value.message
