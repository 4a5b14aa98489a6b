"""Camera capture with OpenCV that keeps the camera's own JPEG bytes and only ever the newest frame.

One grab thread per source reads frames as fast as the source gives them and
keeps just the latest (seq, timestamp, JPEG): a reader that is slow skips
frames instead of seeing old ones (OpenCV's own buffer keeps stale frames even
at size 1, opencv PR #11047). The same thread watches the source: a path that
vanished, a read that fails, or frames that stop changing (after an unplug
V4L2 has kept returning the last buffer, opencv #5746) release the capture and
reopen it with back-off.

Sources: a V4L2 device path (`/dev/v4l/by-id/...`, `/dev/video0`) or a video
file (`file:///path.avi`), looped. From the frame on both take the same path.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

# A stalled V4L2 read blocks this many seconds; OpenCV reads it once, at import (default 10 s).
os.environ.setdefault("OPENCV_VIDEOIO_V4L_SELECT_TIMEOUT", "3")

import cv2
import numpy as np

log = logging.getLogger("classroomd.drivers.v4l")

MJPG = cv2.VideoWriter.fourcc(*"MJPG")
YUYV = cv2.VideoWriter.fourcc(*"YUYV")
#: Sizes tried, largest first, when a camera refuses MJPG and only streams uncompressed YUYV.
YUYV_FALLBACK_SIZES = ((1280, 720), (800, 600), (640, 480))


class CaptureError(Exception):
    """The source cannot be opened or read; the message says why in plain words."""


@dataclass(frozen=True)
class Frame:
    seq: int
    #: time.monotonic() when the grab thread got it; `wall` is time.time() for headers and sidecars.
    ts: float
    wall: float
    jpeg: bytes
    width: int
    height: int

    @property
    def age(self) -> float:
        return time.monotonic() - self.ts


@dataclass
class CaptureSettings:
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    #: JPEG quality when frames have to be encoded (YUYV cameras, non-JPEG files).
    quality: int = 85
    #: No new frame for this long means the source stalled: release and reopen.
    stall_s: float = 3.0
    reopen_min_s: float = 0.25
    reopen_max_s: float = 10.0


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF header, without decoding; (0, 0) if there is none."""
    if data[:2] != b"\xff\xd8":
        return 0, 0
    i = 2
    n = len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5:i + 7], "big")
            width = int.from_bytes(data[i + 7:i + 9], "big")
            return width, height
        if marker == 0xDA:  # entropy-coded data follows: no SOF before the scan means a broken JPEG
            return 0, 0
        i += 2 + length
    return 0, 0


def is_jpeg(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"


def whole_jpeg(data: bytes) -> bytes:
    """The JPEG in a camera buffer, or b"" for a truncated one (a USB transfer cut short): never served.

    Some UVC cameras pad the buffer after the end-of-image marker; only that padding is cut.
    """
    if data[:2] != b"\xff\xd8":
        return b""
    if data[-2:] == b"\xff\xd9":
        return data
    end = data.rfind(b"\xff\xd9")
    return data[:end + 2] if end > 0 and not data[end + 2:].strip(b"\x00") else b""


def source_path(source: str) -> tuple[str, bool]:
    """(filesystem path, is_file) of a config `source`: `file://...` or a device path."""
    if source.startswith("file://"):
        parsed = urlparse(source)
        return unquote(parsed.netloc + parsed.path), True
    return source, False


def encode_jpeg(image: np.ndarray[Any, Any], quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise CaptureError("could not encode a frame as JPEG")
    return buf.tobytes()


def _fourcc_text(value: float) -> str:
    code = int(value)
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00") or "?"


class _Opened:
    """An open cv2.VideoCapture and how to get JPEG bytes out of it."""

    def __init__(self, cap: cv2.VideoCapture, raw_jpeg: bool, is_file: bool, fps: float,
                 width: int, height: int, fourcc: str) -> None:
        self.cap = cap
        self.raw_jpeg = raw_jpeg
        self.is_file = is_file
        self.fps = fps
        self.width = width
        self.height = height
        self.fourcc = fourcc

    def read(self, quality: int) -> bytes | None:
        ok, image = self.cap.read()
        if not ok or image is None:
            return None
        if self.raw_jpeg:
            return whole_jpeg(image.tobytes())
        return encode_jpeg(image, quality)

    def rewind(self) -> bool:
        return bool(self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0))

    def release(self) -> None:
        with contextlib.suppress(Exception):
            self.cap.release()


def _open_file(path: str, settings: CaptureSettings) -> _Opened:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise CaptureError(f"cannot open video file {path}")
    # Packets as they are in the file: an MJPG file yields each frame's JPEG untouched.
    raw = bool(cap.set(cv2.CAP_PROP_FORMAT, -1))
    file_fps = cap.get(cv2.CAP_PROP_FPS) or settings.fps
    fourcc = _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if raw:
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise CaptureError(f"video file {path} has no frames")
        if not is_jpeg(first.tobytes()):
            # Not MJPG (H.264, FFV1 …): let FFmpeg decode and encode each frame ourselves.
            cap.release()
            cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
            raw = False
        else:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return _Opened(cap, raw, True, float(file_fps), width, height, fourcc)


def _open_device(path: str, settings: CaptureSettings) -> _Opened:
    if not os.path.exists(path):
        raise CaptureError(f"camera {path} is not connected")
    if not os.access(path, os.R_OK | os.W_OK):
        raise CaptureError(f"no permission to open {path}; add the daemon's user to the 'video' group")
    cap = cv2.VideoCapture(path, cv2.CAP_V4L2)
    if not cap.isOpened():
        raise CaptureError(f"cannot open camera {path}")
    # V4L2 prefers YUYV: ask for MJPG before the size, then fps, then a one-frame buffer.
    cap.set(cv2.CAP_PROP_FOURCC, MJPG)
    cap.set(cv2.CAP_PROP_FRAME_WIDTH, settings.width)
    cap.set(cv2.CAP_PROP_FRAME_HEIGHT, settings.height)
    cap.set(cv2.CAP_PROP_FPS, settings.fps)
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
    raw = fourcc == MJPG and bool(cap.set(cv2.CAP_PROP_CONVERT_RGB, 0))
    if not raw:
        # Refused (values silently revert): uncompressed YUYV, at a size USB 2.0 can carry.
        cap.set(cv2.CAP_PROP_CONVERT_RGB, 1)
        for width, height in YUYV_FALLBACK_SIZES:
            if width > settings.width:
                continue
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            if int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == width:
                break
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    fps = cap.get(cv2.CAP_PROP_FPS) or settings.fps
    opened = _Opened(cap, raw, False, float(fps), width, height, _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC)))
    log.info("opened %s: %s %dx%d @ %.0f fps (%s)", path, opened.fourcc, width, height, fps,
             "JPEG passthrough" if raw else "encoding")
    return opened


@dataclass
class CaptureStatus:
    online: bool = False
    reason: str = "starting"
    width: int = 0
    height: int = 0
    fourcc: str = ""
    passthrough: bool = False
    fps_target: float = 0.0
    reopens: int = 0
    #: Successful opens so far: a reader can tell frames of a new configuration from old ones.
    opens: int = 0


Listener = Callable[[Frame | None, CaptureStatus], None]


@dataclass
class _Control:
    stop: threading.Event = field(default_factory=threading.Event)
    reopen: threading.Event = field(default_factory=threading.Event)


class FrameCapture:
    """The grab thread of one source. `latest` is always the newest frame (or None when offline)."""

    def __init__(self, source: str, settings: CaptureSettings | None = None,
                 listener: Listener | None = None) -> None:
        self.source = source
        self.path, self.is_file = source_path(source)
        self.settings = settings or CaptureSettings()
        self.listener = listener
        self.status = CaptureStatus(fps_target=self.settings.fps)
        self._latest: Frame | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._newer = threading.Condition(self._lock)
        self._ctl = _Control()
        self._thread: threading.Thread | None = None
        self._stamps: collections.deque[float] = collections.deque(maxlen=64)

    # --- reader side -----------------------------------------------------------------
    @property
    def latest(self) -> Frame | None:
        return self._latest

    def wait_newer(self, after_seq: int, timeout: float) -> Frame | None:
        """Block until a frame newer than `after_seq` exists; the newest one, or None on timeout."""
        with self._newer:
            self._newer.wait_for(lambda: self._latest is not None and self._latest.seq > after_seq, timeout)
            frame = self._latest
        return frame if frame is not None and frame.seq > after_seq else None

    @property
    def measured_fps(self) -> float:
        stamps = list(self._stamps)
        now = time.monotonic()
        recent = [t for t in stamps if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return round((len(recent) - 1) / (recent[-1] - recent[0]), 1) if recent[-1] > recent[0] else 0.0

    def frame_age(self) -> float | None:
        frame = self._latest
        return None if frame is None else time.monotonic() - frame.ts

    # --- control -----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._ctl = _Control()
        self._thread = threading.Thread(target=self._run, name=f"grab-{self.path}", daemon=True)
        self._thread.start()
        threading.Thread(target=self._watchdog, args=(self._ctl,), name=f"watch-{self.path}", daemon=True).start()

    def stop(self, timeout: float = 5.0) -> None:
        self._ctl.stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def reconfigure(self, width: int | None = None, height: int | None = None, fps: float | None = None) -> None:
        """Ask for another size or rate; the grab thread reopens the source with it."""
        if width is not None:
            self.settings.width = width
        if height is not None:
            self.settings.height = height
        if fps is not None:
            self.settings.fps = fps
        self._ctl.reopen.set()

    # --- grab thread -----------------------------------------------------------------
    def _report(self, frame: Frame | None) -> None:
        if self.listener is not None:
            try:
                self.listener(frame, self.status)
            except Exception:  # a listener's bug must not kill the grab thread
                log.exception("capture listener failed")

    def _go_offline(self, reason: str, only_if: Frame | None = None) -> None:
        with self._lock:
            if only_if is not None and self._latest is not only_if:
                return  # a new frame arrived meanwhile: not stalled after all
            self._latest = None
            changed = self.status.online or self.status.reason != reason
            self.status.online = False
            self.status.reason = reason
        self._stamps.clear()
        if changed:
            if reason == "stopped":
                log.info("%s stopped", self.source)
            else:
                log.warning("%s offline: %s", self.source, reason)
            self._report(None)

    def _watchdog(self, ctl: _Control) -> None:
        """A read blocked in the driver (a stalled camera) cannot report itself: watch the frame age from here."""
        every = min(0.25, self.settings.stall_s / 4)
        while not ctl.stop.wait(every):
            frame = self._latest
            if frame is None:
                continue
            age = time.monotonic() - frame.ts
            if age > self.settings.stall_s:
                self._go_offline(f"no new frame for {age:.1f} s (the source stalled)", only_if=frame)

    def _open(self) -> _Opened:
        if self.is_file:
            if not os.path.exists(self.path):
                raise CaptureError(f"video file {self.path} does not exist")
            return _open_file(self.path, self.settings)
        return _open_device(self.path, self.settings)

    def _run(self) -> None:
        ctl = self._ctl
        backoff = self.settings.reopen_min_s
        while not ctl.stop.is_set():
            try:
                opened = self._open()
            except CaptureError as exc:
                self._go_offline(str(exc))
                ctl.stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.reopen_max_s)
                continue
            except Exception as exc:  # OpenCV raises cv2.error on odd devices
                self._go_offline(f"cannot open {self.source}: {exc}")
                ctl.stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.reopen_max_s)
                continue
            ctl.reopen.clear()
            seq_before = self._seq
            try:
                reason = self._pump(opened, ctl)
            finally:
                opened.release()
            if self._seq > seq_before:  # it worked for a while: start the back-off afresh
                backoff = self.settings.reopen_min_s
            if reason is None:  # asked to stop or to reopen with new settings
                continue
            self.status.reopens += 1
            self._go_offline(reason)
            ctl.stop.wait(backoff)
            backoff = min(backoff * 2, self.settings.reopen_max_s)
        self._go_offline("stopped")

    def _pump(self, opened: _Opened, ctl: _Control) -> str | None:
        """Read frames until the source fails (returns why) or a stop/reopen is asked (returns None)."""
        s = self.settings
        self.status.opens += 1
        self.status.fourcc = opened.fourcc
        self.status.passthrough = opened.raw_jpeg
        self.status.fps_target = s.fps if not opened.is_file else min(s.fps, opened.fps or s.fps)
        period = 1.0 / self.status.fps_target if opened.is_file else 0.0
        next_due = time.monotonic()
        last_new = time.monotonic()
        last_check = 0.0
        previous = b""
        empty_reads = 0
        while not ctl.stop.is_set() and not ctl.reopen.is_set():
            now = time.monotonic()
            if now - last_check >= 0.5:
                last_check = now
                if not os.path.exists(self.path):
                    return f"{'video file' if opened.is_file else 'camera'} {self.path} disappeared"
            if opened.is_file:
                # A file plays at its own pace, like a camera would deliver it.
                delay = next_due - now
                if delay > 0 and ctl.stop.wait(delay):
                    return None
                next_due = max(next_due + period, time.monotonic() - period)
            data = opened.read(s.quality)
            if data is None:
                if opened.is_file and empty_reads == 0:
                    empty_reads += 1
                    if opened.rewind():
                        continue
                return f"cannot read from {self.path}"
            empty_reads = 0
            if not data:
                continue
            grabbed = time.monotonic()
            if not opened.is_file and data == previous:
                # The same buffer again: a vanished camera that V4L2 still "reads".
                if grabbed - last_new > s.stall_s:
                    return f"camera {self.path} stalled (no new frame for {s.stall_s:.0f} s)"
                continue
            if grabbed - last_new > s.stall_s and self._latest is not None:
                return f"no frame from {self.path} for {grabbed - last_new:.1f} s"
            last_new = grabbed
            previous = data
            self._publish(data, grabbed)
        return None

    def _publish(self, data: bytes, grabbed: float) -> None:
        width, height = jpeg_size(data)
        with self._newer:
            self._seq += 1
            frame = Frame(self._seq, grabbed, time.time(), data, width, height)
            self._latest = frame
            self._newer.notify_all()
            came_online = not self.status.online or (width, height) != (self.status.width, self.status.height)
            if came_online:
                self.status.online = True
                self.status.reason = ""
                self.status.width, self.status.height = width, height
        self._stamps.append(grabbed)
        if came_online:
            log.info("%s online: %dx%d", self.source, width, height)
        self._report(frame)


class AsyncFrames:
    """The asyncio side of a FrameCapture: await the newest frame without a thread per reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.latest: Frame | None = None
        self._waiter: asyncio.Future[None] = loop.create_future()

    def push(self, frame: Frame | None) -> None:
        """Thread-safe: hand over the newest frame (None when the source went offline)."""
        self.loop.call_soon_threadsafe(self._set, frame)

    def clear(self) -> None:
        """From the loop: there is no current frame (the source was closed)."""
        self._set(None)

    def _set(self, frame: Frame | None) -> None:
        self.latest = frame
        waiter, self._waiter = self._waiter, self.loop.create_future()
        if not waiter.done():
            waiter.set_result(None)

    async def newer(self, after_seq: int, timeout: float) -> Frame | None:
        """The newest frame with seq > after_seq, waiting up to `timeout`; None if none came."""
        deadline = self.loop.time() + timeout
        while True:
            frame = self.latest
            if frame is not None and frame.seq > after_seq:
                return frame
            left = deadline - self.loop.time()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._waiter), left)
            if self.latest is None:
                return None


def decode(jpeg: bytes, max_width: int = 0) -> np.ndarray[Any, Any]:
    """Decode a JPEG, letting libjpeg scale down by 2/4/8 while decoding when that is enough."""
    buf = np.frombuffer(jpeg, np.uint8)
    flag = cv2.IMREAD_COLOR
    if max_width:
        width, _ = jpeg_size(jpeg)
        for factor, reduced in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                                (2, cv2.IMREAD_REDUCED_COLOR_2)):
            if width and width // factor >= max_width:
                flag = reduced
                break
    image = cv2.imdecode(buf, flag)
    if image is None:
        raise CaptureError("frame is not a decodable JPEG")
    return image


def scaled_jpeg(jpeg: bytes, width: int, quality: int) -> bytes:
    """The frame at `width` pixels wide (aspect kept; never upscaled), re-encoded at `quality`."""
    image = decode(jpeg, width)
    h, w = image.shape[:2]
    if w > width:
        height = max(1, round(h * width / w))
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return encode_jpeg(image, quality)
