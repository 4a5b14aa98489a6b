"""The remote copy: within budget, true to the original's colours, and untouched when it already fits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from classroomd.services.linked_lesson import REMOTE_MAX_BYTES, remote_copy
from tests.linked.conftest import picture


@pytest.mark.parametrize(("size", "noise"), [((1920, 1080), 24), ((1920, 1080), 80), ((3840, 2160), 40)])
def test_a_big_capture_becomes_a_copy_within_budget(size: tuple[int, int], noise: int) -> None:
    original = picture((40, 160, 90), size, noise)
    copy, width, height, original_width = remote_copy(original)
    assert len(copy) <= REMOTE_MAX_BYTES < len(original)
    assert original_width == size[0] and width <= 1280 and height == pytest.approx(width * size[1] / size[0], abs=1)
    decoded = cv2.imdecode(np.frombuffer(copy, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape[:2] == (height, width)
    assert np.abs(decoded.reshape(-1, 3).mean(axis=0) - (40, 160, 90)).max() < 8


def test_a_capture_that_fits_travels_as_it_is() -> None:
    small = picture((200, 30, 30), (640, 480), 4)
    assert len(small) <= REMOTE_MAX_BYTES
    assert remote_copy(small) == (small, 640, 480, 640)
