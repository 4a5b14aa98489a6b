"""The OpenCV capture path on real MJPG files: passthrough, newest-frame semantics, watchdog."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path

import pytest

from classroomd.drivers.v4l_capture import CaptureSettings, CaptureStatus, Frame, FrameCapture, jpeg_size
from tests.microscope.videos import avi_video_packets, write_mjpg


def wait_online(capture: FrameCapture, timeout: float = 10.0) -> Frame:
    frame = capture.wait_newer(0, timeout)
    assert frame is not None, f"no frame: {capture.status.reason}"
    return frame


def test_file_frames_are_the_packets_of_the_file_byte_for_byte(video: Path) -> None:
    packets = avi_video_packets(video)
    assert len(packets) == 30 and len(set(packets)) == 30
    capture = FrameCapture(video.as_uri(), CaptureSettings(fps=30))
    capture.start()
    try:
        seen: list[bytes] = []
        seq = 0
        while len(seen) < 40:  # more than one loop of the file
            frame = capture.wait_newer(seq, 5)
            assert frame is not None
            seq = frame.seq
            seen.append(frame.jpeg)
        assert all(f in packets for f in seen), "a frame was not one of the file's JPEG packets"
        assert len(set(seen)) >= 20
        assert capture.status.passthrough and capture.status.fourcc == "MJPG"
        assert (frame.width, frame.height) == (320, 240) == jpeg_size(packets[0])
    finally:
        capture.stop()


def test_a_slow_reader_gets_increasing_seq_with_gaps_and_never_a_stale_frame(video: Path) -> None:
    capture = FrameCapture(video.as_uri(), CaptureSettings(fps=30))
    capture.start()
    try:
        wait_online(capture)
        seqs: list[int] = []
        ev = threading.Event()
        for _ in range(6):
            ev.wait(0.2)  # a reader much slower than 30 fps
            frame = capture.latest
            assert frame is not None
            # What the reader gets is the newest frame, whatever it missed.
            assert frame.seq >= (seqs[-1] if seqs else 0)
            newest = capture.latest
            assert newest is not None and newest.seq - frame.seq <= 1
            seqs.append(frame.seq)
        gaps = [b - a for a, b in itertools.pairwise(seqs)]
        assert all(g > 0 for g in gaps), seqs
        assert max(gaps) > 1, f"a slow reader should skip frames: {seqs}"
    finally:
        capture.stop()


def test_a_vanished_file_goes_offline_and_comes_back_when_it_returns(tmp_path: Path) -> None:
    video = write_mjpg(tmp_path / "scope.avi", frames=20)
    reports: list[bool] = []
    got_reason: list[str] = []
    changed = threading.Condition()

    def listener(frame: Frame | None, status: CaptureStatus) -> None:
        with changed:
            if not reports or reports[-1] != status.online:
                reports.append(status.online)
                got_reason.append(status.reason)
            changed.notify_all()

    capture = FrameCapture(video.as_uri(), CaptureSettings(fps=30, stall_s=1.0, reopen_max_s=0.5), listener)
    capture.start()
    try:
        wait_online(capture)
        hidden = tmp_path / "hidden.avi"
        os.rename(video, hidden)
        with changed:
            assert changed.wait_for(lambda: reports[-1] is False, 10), reports
        assert "disappeared" in got_reason[-1] or "does not exist" in got_reason[-1]
        assert capture.latest is None
        os.rename(hidden, video)
        with changed:
            assert changed.wait_for(lambda: reports[-1] is True, 10), reports
        assert capture.latest is not None and capture.status.reopens >= 1
    finally:
        capture.stop()
    assert reports[:3] == [True, False, True]


def test_a_source_that_appears_later_is_opened_then(tmp_path: Path) -> None:
    later = tmp_path / "later.avi"
    capture = FrameCapture(later.as_uri(), CaptureSettings(reopen_max_s=0.3))
    capture.start()
    try:
        assert capture.wait_newer(0, 0.5) is None
        assert not capture.status.online and "does not exist" in capture.status.reason
        write_mjpg(tmp_path / "tmp.avi", frames=10).rename(later)
        wait_online(capture)
    finally:
        capture.stop()


def test_a_non_jpeg_video_is_encoded_to_jpeg(tmp_path: Path) -> None:
    import cv2

    from tests.microscope.videos import frame_image

    path = tmp_path / "ffv1.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"FFV1"), 30, (160, 120))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write FFV1")
    for i in range(10):
        writer.write(frame_image(i, 160, 120))
    writer.release()
    capture = FrameCapture(path.as_uri(), CaptureSettings(fps=30))
    capture.start()
    try:
        frame = wait_online(capture)
        assert frame.jpeg[:2] == b"\xff\xd8" and (frame.width, frame.height) == (160, 120)
        assert not capture.status.passthrough
    finally:
        capture.stop()


def test_jpeg_size_reads_the_header_without_decoding(video: Path) -> None:
    packets = avi_video_packets(video)
    assert jpeg_size(packets[3]) == (320, 240)
    assert jpeg_size(b"not a jpeg") == (0, 0)


def test_whole_jpeg_cuts_only_zero_padding_and_drops_truncated_buffers(video: Path) -> None:
    from classroomd.drivers.v4l_capture import whole_jpeg

    packet = avi_video_packets(video)[0]
    assert whole_jpeg(packet) is packet
    assert whole_jpeg(packet + b"\x00" * 100) == packet
    assert whole_jpeg(packet[: len(packet) // 2]) == b""
    assert whole_jpeg(b"\x00\x00" + packet) == b""
