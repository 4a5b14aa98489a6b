"""The lesson media store on disk: originals untouched, sidecars, thumbnails, restart, eviction."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from classroomd.services.media import MediaStore
from tests.microscope.videos import frame_image


def jpeg(index: int, width: int = 640, height: int = 480, noise: bool = False) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame_image(index, width, height, noise))
    assert ok
    return buf.tobytes()


def meta(lesson: str | None, **extra: object) -> dict[str, object]:
    return {"device": "scope-1", "lesson": lesson, "teacher": "Айгүл", "width": 640, "height": 480,
            "magnification": "10x", "um_per_px": 0.5, "tags": ["onion"], **extra}


def test_capture_keeps_the_original_bytes_and_writes_sidecar_and_thumbnail(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    original = jpeg(1)
    item = store.save_capture(original, meta("bio-1"))
    assert store.original_path(item.id).read_bytes() == original
    sidecar = json.loads((tmp_path / "media" / f"{item.id}.json").read_text())
    assert sidecar["lesson"] == "bio-1" and sidecar["teacher"] == "Айгүл" and sidecar["um_per_px"] == 0.5
    assert sidecar["created"].endswith("Z") and sidecar["annotations"] == [] and sidecar["tags"] == ["onion"]
    thumb = cv2.imdecode(np.frombuffer(store.thumbnail_path(item.id).read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert thumb is not None and thumb.shape[1] == 320 and thumb.shape[0] == 240
    assert item.url == f"/media/{item.id}" and item.thumb_url == f"/media/{item.id}/thumb"


def test_media_and_annotations_survive_a_restart(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    a = store.save_capture(jpeg(1), meta("bio-1"))
    b = store.save_capture(jpeg(2), meta("bio-2"))
    store.add_annotations(a.id, [{"tool": "pen", "points": [[1, 2], [3, 4]], "color": "#f00"}])
    (tmp_path / "media" / "20990101-000000-deadbeef.jpg").write_bytes(b"half-written")  # crash mid-save
    again = MediaStore(tmp_path / "media")
    assert [i.id for i in again.by_lesson("bio-1")] == [a.id]
    assert [i.id for i in again.by_lesson("bio-2")] == [b.id]
    got = again.get(a.id)
    assert got is not None and got.meta["annotations"][0]["tool"] == "pen"
    assert not (tmp_path / "media" / "20990101-000000-deadbeef.jpg").exists()


def test_eviction_takes_the_oldest_first_and_never_the_current_lesson(tmp_path: Path) -> None:
    current = {"lesson": "now"}
    store = MediaStore(tmp_path / "media", current_lesson=lambda: current["lesson"])
    ours = [store.save_capture(jpeg(i, noise=True), meta("now")) for i in range(3)]
    old = [store.save_capture(jpeg(10 + i, noise=True), meta("last-week")) for i in range(3)]
    size = max(i.size for i in ours + old)
    store.max_bytes = 5 * size
    newer = store.save_capture(jpeg(20, noise=True), meta("now"))
    left = {i.id for i in store.all()}
    assert {i.id for i in ours} | {newer.id} <= left, "the current lesson's media were evicted"
    assert old[0].id not in left and old[1].id not in left, "the oldest other media should go first"
    assert not store.original_path(old[0].id).exists()
    # Even a cap the lesson alone exceeds does not evict it.
    store.max_bytes = 1
    store.save_capture(jpeg(21), meta("now"))
    assert {i.id for i in ours} <= {i.id for i in store.all()}
    assert all(i.meta["lesson"] == "now" for i in store.all())


def test_bad_input_and_unknown_ids(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "media")
    with pytest.raises(ValueError):
        store.save_capture(b"PNG...", meta(None))
    assert store.get("nope-nope") is None
    with pytest.raises(KeyError):
        store.original_path("../../etc/passwd")
    with pytest.raises(KeyError):
        store.add_annotations("20990101-000000-aaaaaaaa", [])
    assert store.delete("20990101-000000-aaaaaaaa") is False
