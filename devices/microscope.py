"""USB microscopes: live MJPEG view, captures into the lesson's media, time-lapse and calibration.

This module is the device: lifecycle, actions and state. Serving frames over
HTTP is in microscope_stream.py (the device's base class), and the µm-per-pixel
math and its per-preset storage in microscope_calibration.py.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from classroomd.core.timestamps import iso, now_iso
from classroomd.devices.base import (
    DeviceHost,
    Kind,
    Localized,
    NoArgs,
    Priority,
    Property,
    RequestError,
    Status,
    action,
)
from classroomd.devices.microscope_calibration import CalibrationBook, um_per_px

# BOUNDARY is re-exported: bench/mjpeg_stream.py frames its parts with the device's own boundary.
from classroomd.devices.microscope_stream import BOUNDARY as BOUNDARY
from classroomd.devices.microscope_stream import MicroscopeStreaming, StreamClient, Variants
from classroomd.drivers.v4l_capture import (
    AsyncFrames,
    CaptureSettings,
    CaptureStatus,
    Frame,
    FrameCapture,
    source_path,
)
from classroomd.services.media import MediaItem

TELEMETRY_EVERY_S = 10.0


# --- config and request arguments ---------------------------------------------------------
class Options(BaseModel):
    """Kind-specific keys of a microscope's `[[devices]]` entry."""

    model_config = ConfigDict(extra="forbid")
    width: int = Field(1280, gt=0, le=7680, description="requested frame width (px)")
    height: int = Field(720, gt=0, le=4320, description="requested frame height (px)")
    fps: float = Field(30.0, ge=1, le=120, description="requested frames per second")
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
    #: At least one frame a second: a smaller rate is no live view (and 5e-324 overflowed the grab delay).
    fps: float | None = Field(None, ge=1, le=120)
    magnification: str | None = None

    @model_validator(mode="after")
    def _both_sides(self) -> SetArgs:
        if (self.width is None) != (self.height is None):
            raise ValueError("give width and height together")
        return self


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
    return iso(datetime.fromtimestamp(ts, UTC)) if ts is not None else now_iso()


LOST = Localized(
    kk="Микроскоп ажыратылды немесе кадр бермей тұр. Кабельді тексеріңіз.",
    ru="Микроскоп отключён или не передаёт кадры. Проверьте кабель.",
    en="The microscope is disconnected or sends no frames. Check the cable.",
)


class MicroscopeDevice(MicroscopeStreaming):
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
