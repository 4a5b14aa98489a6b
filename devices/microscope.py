"""USB microscopes: live MJPEG view, captures into the lesson's media, time-lapse and calibration.

Frames stay the camera's JPEG bytes from the grab thread to the client's
socket; pixels are decoded only for thumbnails and downscaled streams. Every
stream client always gets the newest frame: a slow client skips frames and
never builds up a queue, so a rural uplink sees a slower picture, not an older one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from classroomd.daemon.media import MediaItem
from classroomd.devices.base import (
    Device,
    DeviceHost,
    HttpHandler,
    Kind,
    Localized,
    NoArgs,
    Priority,
    Property,
    RequestError,
    Status,
    action,
)
from classroomd.drivers.v4l_capture import (
    AsyncFrames,
    CaptureSettings,
    CaptureStatus,
    Frame,
    FrameCapture,
    source_path,
)
from classroomd.drivers.v4l_capture import scaled_jpeg as _scaled_jpeg
from classroomd.web.context import require_token

BOUNDARY = "boundarydonotcross"  # µStreamer's boundary: viewers written for it parse ours
#: Kernel send buffer of a stream socket: small, so a slow client's backlog is a frame or two, not seconds.
STREAM_SNDBUF = 256 * 1024
PLACEHOLDER_EVERY_S = 1.0
TELEMETRY_EVERY_S = 10.0


# --- config and request arguments ---------------------------------------------------------
class Options(BaseModel):
    """Kind-specific keys of a microscope's `[[devices]]` entry."""

    model_config = ConfigDict(extra="forbid")
    width: int = Field(1280, gt=0, le=7680, description="requested frame width (px)")
    height: int = Field(720, gt=0, le=4320, description="requested frame height (px)")
    fps: float = Field(30.0, gt=0, le=120, description="requested frames per second")
    quality: int = Field(80, ge=10, le=100, description="JPEG quality of downscaled streams and encoded frames")
    presets: list[str] = Field(default_factory=lambda: ["4x", "10x", "40x", "100x"], min_length=1,
                               description="the objective's magnification presets")
    magnification: str | None = Field(None, description="the preset in use at start (default: the first)")
    calibration: dict[str, float] = Field(default_factory=dict,
                                          description="µm per pixel per preset; `calibrate` overrides")
    stall_s: float = Field(3.0, gt=0, le=60, description="no new frame for this long: reopen the camera")
    reopen_max_s: float = Field(10.0, gt=0, le=600, description="longest wait between reopen attempts")

    @model_validator(mode="after")
    def _known_presets(self) -> Options:
        if self.magnification is not None and self.magnification not in self.presets:
            raise ValueError(f"magnification {self.magnification!r} is not one of presets {self.presets}")
        unknown = sorted(set(self.calibration) - set(self.presets))
        if unknown:
            raise ValueError(f"calibration names presets that are not in presets: {unknown}")
        if any(v <= 0 for v in self.calibration.values()):
            raise ValueError("calibration values are µm per pixel and must be positive")
        return self


class CaptureArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[str] = Field(default_factory=list, max_length=32)
    magnification: str | None = Field(None, description="preset to record (default: the current one)")


class TimelapseArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    interval_s: float = Field(ge=0.2, le=3600, description="seconds between stills")
    duration_s: float = Field(gt=0, le=7 * 24 * 3600, description="how long to keep capturing")
    tags: list[str] = Field(default_factory=list, max_length=32)


class CalibrateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: list[tuple[float, float]] = Field(min_length=2, max_length=2,
                                              description="two points [x, y] in pixels on a stage micrometer image")
    distance_um: float = Field(gt=0, le=100_000, description="the true distance between the points, µm")
    magnification: str | None = Field(None, description="preset being calibrated (default: the current one)")
    media: str | None = Field(None, description="the captured image the points were picked on")


class SetArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int | None = Field(None, gt=0, le=7680)
    height: int | None = Field(None, gt=0, le=4320)
    fps: float | None = Field(None, gt=0, le=120)
    magnification: str | None = None

    @model_validator(mode="after")
    def _both_sides(self) -> SetArgs:
        if (self.width is None) != (self.height is None):
            raise ValueError("give width and height together")
        return self


# --- calibration -----------------------------------------------------------------------------
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


# --- serving frames ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ViewOptions:
    width: int = 0
    fps: float = 0.0
    quality: int = 0

    @property
    def passthrough(self) -> bool:
        return not self.width and not self.quality

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> ViewOptions:
        def number(name: str, low: float, high: float) -> float:
            text = query.get(name)
            if text is None or text == "":
                return 0
            try:
                value = float(text)
            except ValueError:
                raise _bad_request(f"{name} must be a number, got {text!r}") from None
            if not low <= value <= high:
                raise _bad_request(f"{name} must be between {low:g} and {high:g}, got {text}")
            return value

        return cls(int(number("width", 16, 7680)), number("fps", 0.1, 120), int(number("quality", 10, 100)))


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": {"code": "invalid_arguments", "message": message}}),
                              content_type="application/json")


class Variants:
    """Downscaled/re-encoded frames, computed once per frame per option set for all clients that asked."""

    def __init__(self, default_quality: int) -> None:
        self.default_quality = default_quality
        self._tasks: dict[tuple[int, int, int], asyncio.Task[bytes]] = {}
        #: How many frames were decoded and re-encoded (for tests and the state endpoint).
        self.encodes = 0

    async def get(self, frame: Frame, view: ViewOptions) -> bytes:
        if view.passthrough or (view.width >= frame.width and not view.quality):
            return frame.jpeg
        width = min(view.width or frame.width, frame.width)
        quality = view.quality or self.default_quality
        key = (frame.seq, width, quality)
        task = self._tasks.get(key)
        if task is None:
            for old in [k for k in self._tasks if k[0] < frame.seq - 2]:
                del self._tasks[old]
            self.encodes += 1
            task = asyncio.ensure_future(asyncio.to_thread(_scaled_jpeg, frame.jpeg, width, quality))
            self._tasks[key] = task
        return await asyncio.shield(task)


def placeholder_jpeg(width: int, height: int, label: str) -> bytes:
    """An 'offline' picture: what viewers see while the camera is unplugged or stalled."""
    import cv2
    import numpy as np

    from classroomd.drivers.v4l_capture import encode_jpeg

    image = np.full((height, width, 3), (48, 40, 36), np.uint8)
    cx, cy, r = width // 2, height // 2 - height // 10, max(8, min(width, height) // 6)
    thickness = max(2, r // 10)
    cv2.circle(image, (cx, cy), r, (150, 150, 150), thickness, cv2.LINE_AA)
    cv2.line(image, (cx - r, cy + r), (cx + r, cy - r), (60, 60, 220), thickness, cv2.LINE_AA)
    scale = max(0.4, width / 900)
    # Hershey fonts are ASCII only: the localized reason is in /state and on MQTT.
    for i, text in enumerate(("NO SIGNAL", label.encode("ascii", "replace").decode())):
        size = scale * (1.6 if i == 0 else 0.9)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, size, max(1, int(size * 2)))
        y = cy + r + int(th * 2.2) + i * int(th * 2.0)
        cv2.putText(image, text, ((width - tw) // 2, y), cv2.FONT_HERSHEY_SIMPLEX, size, (200, 200, 200),
                    max(1, int(size * 2)), cv2.LINE_AA)
    return encode_jpeg(image, 70)


@dataclass
class StreamClient:
    id: int
    peer: str
    view: ViewOptions
    started: float = field(default_factory=time.monotonic)
    frames: int = 0
    skipped: int = 0
    stamps: list[float] = field(default_factory=list)

    def sent(self, skipped: int) -> None:
        now = time.monotonic()
        self.frames += 1
        self.skipped += max(0, skipped)
        self.stamps = [t for t in self.stamps if now - t <= 2.0] + [now]

    @property
    def fps(self) -> float:
        s = self.stamps
        return round((len(s) - 1) / (s[-1] - s[0]), 1) if len(s) > 1 and s[-1] > s[0] else 0.0

    def describe(self) -> dict[str, Any]:
        return {"fps": self.fps, "frames": self.frames, "skipped": self.skipped, "peer": self.peer,
                "width": self.view.width or None, "max_fps": self.view.fps or None,
                "quality": self.view.quality or None}


@dataclass
class Timelapse:
    sequence: str
    interval_s: float
    duration_s: float
    tags: list[str]
    started: str
    task: asyncio.Task[None] | None = None
    frames: int = 0
    missed: int = 0

    @property
    def count(self) -> int:
        # A small epsilon so 0.6 s / 0.2 s counts 3 intervals, as a person would.
        return math.floor(self.duration_s / self.interval_s + 1e-9) + 1

    def describe(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "interval_s": self.interval_s, "duration_s": self.duration_s,
                "frames": self.frames, "missed": self.missed, "started": self.started}


def _iso(ts: float | None = None) -> str:
    when = datetime.fromtimestamp(ts, UTC) if ts is not None else datetime.now(UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


LOST = Localized(
    kk="Микроскоп ажыратылды немесе кадр бермей тұр. Кабельді тексеріңіз.",
    ru="Микроскоп отключён или не передаёт кадры. Проверьте кабель.",
    en="The microscope is disconnected or sends no frames. Check the cable.",
)


class MicroscopeDevice(Device):
    kind: ClassVar[Kind] = Kind.MICROSCOPE
    Options: ClassVar[type[BaseModel] | None] = Options

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.options if isinstance(self.options, Options) else Options()
        self.opts: Options = opts
        self.magnification = opts.magnification or opts.presets[0]
        self.capture: FrameCapture | None = None
        self.frames: AsyncFrames | None = None
        self.variants = Variants(opts.quality)
        self.calibration: CalibrationBook | None = None
        self.clients: dict[int, StreamClient] = {}
        self._next_client = 0
        self._placeholders: dict[tuple[int, int], bytes] = {}
        self._was_ready = False
        self._reported: tuple[bool, str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.timelapse: Timelapse | None = None
        if self.config is not None and self.config.source:
            path, is_file = source_path(self.config.source)
            self.info.transport = "file" if is_file else "usb"
            self.info.paths = [path]
            if not self.info.model:
                self.info.model = "video file" if is_file else "USB microscope"

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def source(self) -> str:
        if self.config is not None and self.config.source:
            return self.config.source
        # Discovery lists the V4L2 capture node first.
        video = [p for p in self.info.paths if p.startswith("/dev/")]
        if not video:
            raise ValueError(f"microscope {self.id} needs `source` in its config entry "
                             "(a /dev/v4l/by-id/… path or file:///path/to/video.avi)")
        return video[0]

    async def start(self, host: DeviceHost) -> None:
        await super().start(host)
        source = self.source
        loop = asyncio.get_running_loop()
        if self.frames is None or self.frames.loop is not loop:
            # Kept across a restart by the supervisor, so connected viewers resume by themselves.
            self.frames = AsyncFrames(loop)
        self.calibration = CalibrationBook(host.state_dir / "microscopes" / self.id / "calibration.json",
                                           self.opts.calibration)
        media = host.media
        if getattr(media, "current_lesson", None) is None:
            # The store needs to know the lesson so eviction spares it; the host is who knows.
            media.current_lesson = lambda: host.lesson.id if host.lesson is not None else None
        settings = CaptureSettings(width=self.opts.width, height=self.opts.height, fps=self.opts.fps,
                                   quality=self.opts.quality, stall_s=self.opts.stall_s,
                                   reopen_max_s=self.opts.reopen_max_s)
        self._reported = None
        self.capture = FrameCapture(source, settings, self._on_capture)
        self.capture.start()
        self._tasks.append(asyncio.create_task(self._telemetry(), name=f"telemetry-{self.id}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.timelapse is not None and self.timelapse.task is not None:
            self.timelapse.task.cancel()
            self._tasks.append(self.timelapse.task)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.capture is not None:
            capture, self.capture = self.capture, None
            capture.listener = None
            await asyncio.to_thread(capture.stop)
        if self.frames is not None:
            self.frames.clear()
        self.set_status(Status.OFFLINE, "stopped")

    def _on_capture(self, frame: Frame | None, status: CaptureStatus) -> None:
        """Grab thread: hand the frame to the loop; report online/offline changes once."""
        frames = self.frames
        if frames is None:
            return
        frames.push(frame)
        now = (status.online, status.reason)
        if now != self._reported:
            self._reported = now
            frames.loop.call_soon_threadsafe(self._online_changed, status.online, status.reason)

    def _online_changed(self, online: bool, reason: str) -> None:
        if self._host is None or self.capture is None:
            return
        if online:
            self._was_ready = True
            self.set_status(Status.READY)
            self.host.clear_alert(self, "camera_lost")
            return
        if self._was_ready:
            self.set_status(Status.LOST, reason)
            self.host.alert(self, "camera_lost", "warning", LOST)
        else:
            self.set_status(Status.OFFLINE, reason)

    async def _telemetry(self) -> None:
        # Frame age and measured fps change all the time: refresh the retained state now and then.
        while True:
            await asyncio.sleep(TELEMETRY_EVERY_S)
            self.changed()

    # --- state --------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self.frames is not None and self.frames.latest is not None

    def properties(self) -> dict[str, Property]:
        return {
            "online": Property("boolean", description="frames are arriving"),
            "resolution": Property("object", writable=True, description="{width, height} of the frames"),
            "fps": Property("number", unit="1/s", description="frames per second actually captured"),
            "fps_target": Property("number", unit="1/s", writable=True),
            "frame_age_s": Property("number", unit="s", description="age of the newest frame"),
            "magnification": Property("string", writable=True),
            "um_per_px": Property("number", unit="µm/px", description="calibration of the current preset"),
            "calibration": Property("object", description="µm per pixel per preset"),
            "stream_clients": Property("integer"),
            "stream_url": Property("string"),
            "snapshot_url": Property("string"),
        }

    def state(self) -> dict[str, Any]:
        capture = self.capture
        latest = self.frames.latest if self.frames is not None else None
        status = capture.status if capture is not None else CaptureStatus()
        age = capture.frame_age() if capture is not None else None
        out: dict[str, Any] = {
            "online": latest is not None,
            "resolution": {"width": latest.width, "height": latest.height} if latest else None,
            "requested": {"width": capture.settings.width if capture else self.opts.width,
                          "height": capture.settings.height if capture else self.opts.height},
            "fps": capture.measured_fps if capture is not None else 0.0,
            "fps_target": round(status.fps_target or self.opts.fps, 2),
            "frame_age_s": round(age, 3) if age is not None else None,
            "format": status.fourcc or None,
            "passthrough": status.passthrough,
            "magnification": self.magnification,
            "presets": list(self.opts.presets),
            "um_per_px": self.calibration.get(self.magnification) if self.calibration else None,
            "calibration": self.calibration.summary() if self.calibration else {},
            "stream_clients": len(self.clients),
            "timelapse": self.timelapse.describe() if self.timelapse else None,
        }
        if self._host is not None:
            out["stream_url"] = self.http_url("stream")
            out["snapshot_url"] = self.http_url("snapshot")
            out["state_url"] = self.http_url("state")
        return out

    # --- capture ---------------------------------------------------------------------------------
    async def _newest_frame(self, wait_s: float = 2.0) -> Frame:
        frames = self.frames
        if frames is not None:
            if frames.latest is not None:
                return frames.latest
            frame = await frames.newer(0, wait_s)
            if frame is not None:
                return frame
        reason = self.capture.status.reason if self.capture else "not started"
        raise RequestError("offline", f"microscope {self.id} has no picture right now ({reason})")

    def _preset(self, name: str | None) -> str:
        preset = name or self.magnification
        if preset not in self.opts.presets:
            raise RequestError("unknown_preset",
                               f"magnification {preset!r} is not a preset of {self.id}; "
                               f"presets: {', '.join(self.opts.presets)}")
        return preset

    def media_payload(self, item: MediaItem) -> dict[str, Any]:
        base = self.host.http_base
        meta = item.meta
        out = {
            "media_id": item.id,
            "url": base + item.url,
            "thumbnail_url": base + item.thumb_url,
            "json_url": base + item.json_url,
            "path": item.url,
            "size": meta.get("bytes"),
            "created": meta.get("created"),
            "device": meta.get("device"),
            "lesson": meta.get("lesson"),
            "width": meta.get("width"),
            "height": meta.get("height"),
            "magnification": meta.get("magnification"),
            "um_per_px": meta.get("um_per_px"),
            "tags": meta.get("tags", []),
        }
        if meta.get("sequence"):
            out["sequence"] = meta["sequence"]
        return out

    async def save_frame(self, frame: Frame, preset: str, tags: list[str],
                         extra: Mapping[str, Any] | None = None) -> MediaItem:
        lesson = self.host.lesson
        meta: dict[str, Any] = {
            "device": self.id,
            "device_name": self.name,
            "lesson": lesson.id if lesson else None,
            "subject": lesson.subject if lesson else None,
            "teacher": lesson.teacher if lesson else None,
            "width": frame.width,
            "height": frame.height,
            "magnification": preset,
            "um_per_px": self.calibration.get(preset) if self.calibration else None,
            "tags": list(tags),
            "frame_seq": frame.seq,
            "frame_time": _iso(frame.wall),
            **(extra or {}),
        }
        try:
            return await asyncio.to_thread(self.host.media.save_capture, frame.jpeg, meta)
        except OSError as exc:
            raise RequestError("media_store_failed",
                               f"could not save the capture in {self.host.state_dir}: {exc.strerror or exc}") from None

    @action("capture", CaptureArgs, "Save the newest frame into the lesson's media; replies with its id and URLs.")
    async def capture_still(self, args: CaptureArgs) -> dict[str, Any]:
        preset = self._preset(args.magnification)
        frame = await self._newest_frame()
        item = await self.save_frame(frame, preset, args.tags)
        data = self.media_payload(item)
        self.host.emit(self, "captured", data)
        return data

    # --- time-lapse ---------------------------------------------------------------------------
    @action("timelapse_start", TimelapseArgs, "Capture a still every interval_s seconds for duration_s seconds.")
    async def timelapse_start(self, args: TimelapseArgs) -> dict[str, Any]:
        if self.timelapse is not None:
            raise RequestError("timelapse_running", f"a time-lapse is already running ({self.timelapse.sequence}); "
                                                    "stop it first")
        if args.interval_s > args.duration_s:
            raise RequestError("invalid_arguments", "interval_s must not be longer than duration_s")
        await self._newest_frame()
        tl = Timelapse(self.host.media.new_sequence_id(), args.interval_s, args.duration_s, args.tags, _iso())
        self.timelapse = tl
        tl.task = asyncio.create_task(self._run_timelapse(tl), name=f"timelapse-{self.id}")
        self.changed()
        self.host.emit(self, "timelapse_started", tl.describe())
        return {**tl.describe(), "expected_frames": tl.count}

    async def _run_timelapse(self, tl: Timelapse) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        count = tl.count
        outcome = "finished"
        try:
            for index in range(count):
                try:
                    frame = await self._newest_frame(wait_s=min(2.0, tl.interval_s))
                    item = await self.save_frame(frame, self.magnification, tl.tags,
                                                 {"sequence": {"id": tl.sequence, "index": index}})
                    tl.frames += 1
                    self.host.emit(self, "captured", self.media_payload(item), Priority.TELEMETRY)
                except RequestError:
                    tl.missed += 1
                if index + 1 < count:
                    await asyncio.sleep(max(0.0, started + (index + 1) * tl.interval_s - loop.time()))
        except asyncio.CancelledError:
            outcome = "stopped"
            raise
        finally:
            if self.timelapse is tl:
                self.timelapse = None
            if self._host is not None:
                self.host.emit(self, "timelapse_finished", {**tl.describe(), "outcome": outcome})
                self.changed()

    @action("timelapse_stop", NoArgs, "Stop the running time-lapse; the stills taken so far stay.")
    async def timelapse_stop(self, _args: NoArgs) -> dict[str, Any]:
        tl = self.timelapse
        if tl is None or tl.task is None:
            raise RequestError("no_timelapse", f"no time-lapse is running on {self.id}")
        tl.task.cancel()
        await asyncio.gather(tl.task, return_exceptions=True)
        return tl.describe()

    # --- calibration ----------------------------------------------------------------------------
    @action("calibrate", CalibrateArgs,
            "µm per pixel for a magnification preset from two points on a stage micrometer image.")
    async def calibrate(self, args: CalibrateArgs) -> dict[str, Any]:
        preset = self._preset(args.magnification)
        if args.media is not None:
            item = self.host.media.get(args.media)
            if item is None:
                raise RequestError("unknown_media", f"no media {args.media!r}")
            width, height = int(item.meta.get("width") or 0), int(item.meta.get("height") or 0)
        else:
            latest = self.frames.latest if self.frames is not None else None
            width, height = (latest.width, latest.height) if latest else (0, 0)
        for x, y in args.points:
            if x < 0 or y < 0 or (width and x >= width) or (height and y >= height):
                raise RequestError("bad_points", f"point ({x:g}, {y:g}) is outside the {width}×{height} image")
        try:
            value, pixels = um_per_px(args.points[0], args.points[1], args.distance_um)
        except ValueError as exc:
            raise RequestError("bad_points", str(exc)) from None
        assert self.calibration is not None
        self.calibration.set(preset, {"um_per_px": value, "points": [list(p) for p in args.points],
                                      "distance_um": args.distance_um, "pixels": pixels, "media": args.media,
                                      "at": _iso(), "source": "calibrate"})
        self.changed()
        return {"magnification": preset, "um_per_px": value, "pixels": round(pixels, 3),
                "distance_um": args.distance_um}

    # --- settings ---------------------------------------------------------------------------------
    @action("set", SetArgs, "Change resolution (width and height), frame rate or the magnification preset.")
    async def set_options(self, args: SetArgs) -> dict[str, Any]:
        if args.magnification is not None:
            self.magnification = self._preset(args.magnification)
        capture = self.capture
        if capture is not None and (args.width is not None or args.fps is not None):
            opens = capture.status.opens
            capture.reconfigure(args.width, args.height, args.fps)
            # The camera may refuse a size and silently keep another: report what it delivers.
            await self._first_frame_after_reopen(opens, 3.0)
        self.changed()
        state = self.state()
        return {k: state[k] for k in ("resolution", "requested", "fps_target", "magnification", "um_per_px")}

    async def _first_frame_after_reopen(self, opens: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seq = 0
        while self.frames is not None and self.capture is not None and loop.time() < deadline:
            frame = await self.frames.newer(seq, deadline - loop.time())
            if frame is None:
                return
            if self.capture.status.opens > opens:
                return
            seq = frame.seq

    # --- HTTP -------------------------------------------------------------------------------------
    def http_endpoints(self) -> dict[str, HttpHandler]:
        return {"stream": self.http_stream, "snapshot": self.http_snapshot, "state": self.http_state,
                "capture": self.http_capture}

    def placeholder(self, width: int = 0) -> bytes:
        status = self.capture.status if self.capture is not None else CaptureStatus()
        latest_size = (status.width, status.height)
        w, h = latest_size if all(latest_size) else (self.opts.width, self.opts.height)
        if width and width < w:
            w, h = width, max(1, round(h * width / w))
        key = (w, h)
        if key not in self._placeholders:
            self._placeholders[key] = placeholder_jpeg(w, h, f"{self.id}")
        return self._placeholders[key]

    async def http_snapshot(self, request: web.Request) -> web.StreamResponse:
        view = ViewOptions.parse(request.query)
        latest = self.frames.latest if self.frames is not None else None
        headers = {"Cache-Control": "no-store", "X-UStreamer-Online": "true" if latest else "false"}
        if latest is None:
            return web.Response(status=503, body=self.placeholder(view.width), content_type="image/jpeg",
                                headers=headers)
        body = await self.variants.get(latest, view)
        headers.update({"X-Timestamp": f"{latest.wall:.6f}", "X-Frame-Seq": str(latest.seq),
                        "X-UStreamer-Width": str(latest.width), "X-UStreamer-Height": str(latest.height)})
        return web.Response(body=body, content_type="image/jpeg", headers=headers)

    async def http_state(self, request: web.Request) -> web.Response:
        """µStreamer-shaped /state, plus the device's own state."""
        capture = self.capture
        latest = self.frames.latest if self.frames is not None else None
        status = capture.status if capture is not None else CaptureStatus()
        result = {
            "instance_id": self.id,
            "encoder": {"type": "PASSTHROUGH" if status.passthrough else "CPU", "quality": self.opts.quality},
            "source": {
                "resolution": {"width": latest.width if latest else status.width,
                               "height": latest.height if latest else status.height},
                "online": latest is not None,
                "desired_fps": status.fps_target,
                "captured_fps": capture.measured_fps if capture is not None else 0.0,
                "reason": status.reason or None,
            },
            "stream": {
                "clients": len(self.clients),
                "clients_stat": {str(c.id): c.describe() for c in self.clients.values()},
                "downscaled_encodes": self.variants.encodes,
            },
            "device": self.snapshot(),
        }
        return web.json_response({"ok": True, "result": result}, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    async def http_capture(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        require_token(request)
        body: dict[str, Any] = {}
        if request.can_read_body:
            with contextlib.suppress(ValueError):
                parsed = await request.json()
                body = parsed if isinstance(parsed, dict) else {}
        try:
            data = await self.request("capture", body)
        except RequestError as exc:
            status = 503 if exc.code == "offline" else 400
            return web.json_response({"error": {"code": exc.code, "message": exc.message}}, status=status)
        return web.json_response(dict(data))

    async def http_stream(self, request: web.Request) -> web.StreamResponse:
        view = ViewOptions.parse(request.query)
        frames = self.frames
        if frames is None:
            raise web.HTTPServiceUnavailable(text="the microscope is not started")
        response = web.StreamResponse(headers={
            "Content-Type": f"multipart/x-mixed-replace;boundary={BOUNDARY}",
            "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
            "Pragma": "no-cache",
            "Connection": "close",
            "X-Accel-Buffering": "no",
        })
        await response.prepare(request)
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SNDBUF)
        self._next_client += 1
        client = StreamClient(self._next_client, request.remote or "", view)
        self.clients[client.id] = client
        self.changed()
        loop = asyncio.get_running_loop()
        first = True
        last_seq = 0
        last_sent = 0.0
        last_placeholder = -math.inf
        try:
            while True:
                if view.fps and last_sent:
                    # Wake on a grid shared by every client at this rate: they all pick the same newest
                    # frame, so a downscaled variant is computed once for all of them, not once per client.
                    period = 1.0 / view.fps
                    wait = (math.floor(last_sent / period) + 1) * period - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                frame = await frames.newer(last_seq, PLACEHOLDER_EVERY_S)
                if frame is None:
                    if frames.latest is None and loop.time() - last_placeholder >= PLACEHOLDER_EVERY_S:
                        await self._write_part(response, self.placeholder(view.width), None, first)
                        first = False
                        last_placeholder = loop.time()
                    continue
                body = await self.variants.get(frame, view)
                await self._write_part(response, body, frame, first)
                first = False
                client.sent(frame.seq - last_seq - 1 if last_seq else 0)
                last_seq = frame.seq
                last_sent = loop.time()
        except ConnectionError:
            pass  # the viewer went away
        finally:
            self.clients.pop(client.id, None)
            if self._host is not None:
                self.changed()
        return response

    @staticmethod
    async def _write_part(response: web.StreamResponse, body: bytes, frame: Frame | None, first: bool) -> None:
        lines = [f"{'' if first else chr(13) + chr(10)}--{BOUNDARY}", "Content-Type: image/jpeg",
                 f"Content-Length: {len(body)}"]
        if frame is not None:
            lines += [f"X-Timestamp: {frame.wall:.6f}", f"X-Frame-Seq: {frame.seq}"]
        else:
            lines.append("X-UStreamer-Online: false")
        await response.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await response.write(body)
