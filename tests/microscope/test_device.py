"""The microscope device on a real MJPG file through the real OpenCV path, reporting to a recording host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from classroomd.devices.base import Availability, Lesson, RequestError, Status
from tests.microscope.videos import avi_video_packets, write_mjpg
from tests.support.host import RecordingHost

MakeScope = Callable[..., Any]


async def test_capture_saves_the_camera_jpeg_with_lesson_sidecar_and_thumbnail(
        make_scope: MakeScope, video: Path, host: RecordingHost) -> None:
    host.current_lesson = Lesson(id="bio-7a", subject="Биология", teacher="Айгүл Серікқызы")
    scope = await make_scope(video)
    reply = await scope.request("capture", {"tags": ["onion", "cells"]})
    media_id = reply["media_id"]
    assert reply["url"] == f"http://127.0.0.1:8080/media/{media_id}"
    assert reply["thumbnail_url"] == f"http://127.0.0.1:8080/media/{media_id}/thumb"
    assert (reply["width"], reply["height"]) == (320, 240)
    original = host.media.original_path(media_id).read_bytes()
    assert original in avi_video_packets(video), "the capture is not one of the source's frames byte for byte"
    assert reply["size"] == len(original)
    assert host.media.thumbnail_path(media_id).exists()
    meta = host.media.get(media_id).meta
    assert meta["lesson"] == "bio-7a" and meta["teacher"] == "Айгүл Серікқызы" and meta["device"] == "scope-1"
    assert meta["tags"] == ["onion", "cells"]
    [event] = host.named("captured")
    assert event.data["media_id"] == media_id and event.data["lesson"] == "bio-7a"
    assert all(not isinstance(v, bytes | bytearray) for v in event.data.values())
    assert len(str(event.data)) < 2000, "image bytes must never travel in the event"
    assert [i.id for i in host.media.by_lesson("bio-7a")] == [media_id]


async def test_state_reports_online_resolution_fps_and_urls(make_scope: MakeScope, video: Path,
                                                             host: RecordingHost) -> None:
    scope = await make_scope(video, calibration={"10x": 0.7}, magnification="10x")
    await asyncio.sleep(0.5)
    state = scope.snapshot()
    assert state["availability"] == "online" and state["online"] is True
    assert state["resolution"] == {"width": 320, "height": 240}
    assert state["fps"] > 0 and state["frame_age_s"] is not None
    assert state["stream_url"] == "http://127.0.0.1:8080/devices/scope-1/stream"
    assert state["snapshot_url"] == "http://127.0.0.1:8080/devices/scope-1/snapshot"
    assert state["um_per_px"] == 0.7 and state["magnification"] == "10x"


async def test_the_device_goes_lost_when_the_source_vanishes_and_ready_when_it_returns(
        make_scope: MakeScope, tmp_path: Path, host: RecordingHost) -> None:
    video = write_mjpg(tmp_path / "unplug.avi", frames=20)
    scope = await make_scope(video)
    os.rename(video, tmp_path / "away.avi")
    await host.wait_for(lambda: scope.availability is Availability.OFFLINE, 10)
    assert scope.status is Status.LOST and "disappeared" in scope.reason
    assert ("scope-1", "camera_lost") in host.alerts
    with pytest.raises(RequestError) as err:
        await scope.request("capture", {})
    assert err.value.code == "offline"
    os.rename(tmp_path / "away.avi", video)
    await host.wait_for(lambda: scope.status is Status.READY, 10)
    assert ("scope-1", "camera_lost") not in host.alerts


async def test_a_missing_source_at_start_is_offline_with_a_reason(make_scope: MakeScope, tmp_path: Path) -> None:
    scope = await make_scope(tmp_path / "absent.avi", wait_ready=False)
    await asyncio.sleep(0.5)
    assert scope.status is Status.OFFLINE and "does not exist" in scope.reason


async def test_timelapse_captures_a_sequence_and_can_be_stopped(make_scope: MakeScope, video: Path,
                                                                host: RecordingHost) -> None:
    scope = await make_scope(video)
    started = await scope.request("timelapse_start", {"interval_s": 0.2, "duration_s": 0.6})
    sequence = started["sequence"]
    assert started["expected_frames"] == 4
    with pytest.raises(RequestError) as err:
        await scope.request("timelapse_start", {"interval_s": 0.2, "duration_s": 1})
    assert err.value.code == "timelapse_running"
    await host.wait_for(lambda: host.named("timelapse_finished"), 10)
    stills = host.media.by_sequence(sequence)
    assert [s.meta["sequence"]["index"] for s in stills] == [0, 1, 2, 3]
    assert host.named("timelapse_finished")[0].data["outcome"] == "finished"
    assert scope.snapshot()["timelapse"] is None
    long = await scope.request("timelapse_start", {"interval_s": 0.2, "duration_s": 60})
    await host.wait_for(lambda: len(host.media.by_sequence(long["sequence"])) >= 2, 10)
    stopped = await scope.request("timelapse_stop", {})
    assert stopped["sequence"] == long["sequence"] and stopped["frames"] >= 2
    with pytest.raises(RequestError) as err:
        await scope.request("timelapse_stop", {})
    assert err.value.code == "no_timelapse"


async def test_set_changes_fps_and_preset_and_refuses_nonsense(make_scope: MakeScope, video: Path) -> None:
    scope = await make_scope(video, presets=["4x", "40x"])
    reply = await scope.request("set", {"fps": 10, "magnification": "40x"})
    assert reply["fps_target"] == 10 and reply["magnification"] == "40x"
    assert scope.snapshot()["magnification"] == "40x"
    for args, code in [({"width": -640, "height": 480}, "invalid_arguments"),
                       ({"width": 640}, "invalid_arguments"),
                       ({"fps": 0}, "invalid_arguments"),
                       ({"magnification": "7x"}, "unknown_preset"),
                       ({"colour": "red"}, "invalid_arguments")]:
        with pytest.raises(RequestError) as err:
            await scope.request("set", args)
        assert err.value.code == code, args
    with pytest.raises(RequestError) as err:
        await scope.request("timelapse_start", {"interval_s": 5, "duration_s": 1})
    assert err.value.code == "invalid_arguments"


async def test_a_stalled_source_goes_offline_within_the_watchdog_time_and_back_when_frames_resume(
        make_scope: MakeScope, tmp_path: Path, host: RecordingHost) -> None:
    # A named pipe: the reader blocks inside FFmpeg exactly like a USB camera that stops sending.
    data = write_mjpg(tmp_path / "clip.avi", frames=45, fps=30).read_bytes()
    fifo = tmp_path / "camera.fifo"
    os.mkfifo(fifo)
    resume = threading.Event()

    def feed() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(data[: len(data) // 3])
            pipe.flush()
            resume.wait(20)
            pipe.write(data[len(data) // 3:])

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    scope = await make_scope(fifo, stall_s=0.5)
    await host.wait_for(lambda: scope.availability is Availability.OFFLINE, 10)
    assert scope.status is Status.LOST and "stalled" in scope.reason
    resume.set()
    await host.wait_for(lambda: scope.status is Status.READY, 10)
    await asyncio.to_thread(feeder.join, 5)
    # At the end of the pipe the capture reopens it, and opening a FIFO waits for a writer: take the path
    # away and release a reader that may already wait, so the test ends promptly.
    await host.wait_for(lambda: scope.availability is Availability.OFFLINE, 10)
    gone = tmp_path / "gone.fifo"
    os.rename(fifo, gone)
    with contextlib.suppress(OSError):
        os.close(os.open(gone, os.O_WRONLY | os.O_NONBLOCK))


async def test_a_discovered_camera_without_config_opens_its_v4l_node(host: RecordingHost) -> None:
    from classroomd.devices.base import DeviceInfo, Kind
    from classroomd.devices.microscope import MicroscopeDevice

    info = DeviceInfo(id="scope-0c45-6366", kind=Kind.MICROSCOPE, name="USB microscope",
                      paths=["/dev/v4l-test-absent-video0", "/dev/v4l-test-absent-video1"])
    scope = MicroscopeDevice(info)
    assert scope.source == "/dev/v4l-test-absent-video0"
    await scope.start(host)
    try:
        await host.wait_for(lambda: scope.status is Status.OFFLINE and "not connected" in scope.reason, 5)
    finally:
        await scope.stop()


async def test_a_restarted_device_comes_back_ready(make_scope: MakeScope, video: Path, host: RecordingHost) -> None:
    scope = await make_scope(video)
    await scope.stop()
    assert scope.status is Status.OFFLINE and scope.snapshot()["online"] is False
    await scope.start(host)
    await host.wait_for(lambda: scope.status is Status.READY, 10)
    assert (await scope.request("capture", {}))["media_id"]


async def test_a_capture_the_disk_refuses_gets_a_clear_error(make_scope: MakeScope, video: Path,
                                                             host: RecordingHost) -> None:
    import shutil

    scope = await make_scope(video)
    root = host.media.root
    shutil.rmtree(root)
    root.write_text("not a folder")  # every write under it now fails, as on a broken disk
    with pytest.raises(RequestError) as err:
        await scope.request("capture", {})
    assert err.value.code == "media_store_failed" and str(host.state_dir) in err.value.message
    assert not host.named("captured")
