"""MJPEG live view: frames per second and server CPU per client, passthrough against re-encoding.

Run: .venv/bin/python bench/mjpeg_stream.py [--seconds 5] [--clients 1,10,30]

A 1920×1080 MJPG file at 30 fps is the source, read through the real OpenCV
path by the real microscope device, served by aiohttp in a child process (so
the clients' own CPU is not counted). Modes:

- `passthrough`: /stream, the camera's JPEG bytes to every client (what classroomd does);
- `reencode`: a naive server that decodes and re-encodes every frame for every client
  (what webcam servers that transcode do), for comparison;
- `remote`: /stream?width=640&fps=5&quality=60, the remote viewer's stream (one
  downscale per frame, shared by all clients).

Latency is from the grab thread taking the frame (X-Timestamp) to the client
having read the whole part, on loopback. Prints one line per run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from benchnet import free_port

BOUNDARY = b"--boundarydonotcross"


def make_source(path: Path, seconds: int = 4, fps: int = 30) -> None:
    """A 1080p specimen-like clip: textured, moving, about as compressible as a real microscope picture."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 255, (1080 + 200, 1920 + 200, 3), dtype=np.uint8), (0, 0), 3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (1920, 1080))
    for i in range(seconds * fps):
        dx, dy = (i * 3) % 200, (i * 2) % 200
        frame = base[dy:dy + 1080, dx:dx + 1920].copy()
        cv2.putText(frame, f"frame {i}", (80, 200), cv2.FONT_HERSHEY_SIMPLEX, 4, (255, 255, 255), 8)
        writer.write(frame)
    writer.release()


# --- the server (child process) -------------------------------------------------------------
def serve(video: Path, port: int, state: Path) -> None:
    from aiohttp import web

    from classroomd.config.schema import DeviceConfig
    from classroomd.devices.base import Device, Lesson, Localized, Priority
    from classroomd.devices.microscope import BOUNDARY as PART_BOUNDARY
    from classroomd.devices.microscope import MicroscopeDevice
    from classroomd.drivers.v4l_capture import decode, encode_jpeg
    from classroomd.services.media import MediaStore
    from classroomd.web import api
    from classroomd.web.context import CONTEXT

    class Host:
        token = "bench"
        lesson: Lesson | None = None

        def __init__(self) -> None:
            self.devices: dict[str, Device] = {}
            self.media = MediaStore(state / "media")
            self.state_dir = state
            self.http_base = f"http://127.0.0.1:{port}"

        def state_changed(self, device: Device) -> None: ...
        def emit(self, device: Device, name: str, data: Mapping[str, Any], priority: Priority = Priority.EVENT
                 ) -> None: ...
        def alert(self, device: Device, code: str, severity: str, message: Localized) -> None: ...
        def clear_alert(self, device: Device, code: str) -> None: ...

        def device(self, device_id: str) -> Device | None:
            return self.devices.get(device_id)

        def all_devices(self) -> list[Device]:
            return list(self.devices.values())

    async def main() -> None:
        host = Host()
        scope = MicroscopeDevice.from_config(DeviceConfig.model_validate(
            {"id": "scope", "kind": "microscope", "source": video.as_uri(), "width": 1920, "height": 1080,
             "fps": 30}))
        host.devices[scope.id] = scope
        await scope.start(host)  # type: ignore[arg-type]

        async def naive(request: web.Request) -> web.StreamResponse:
            # Baseline: decode and re-encode every frame for every client.
            response = web.StreamResponse(
                headers={"Content-Type": f"multipart/x-mixed-replace;boundary={PART_BOUNDARY}"})
            await response.prepare(request)
            seq = 0
            assert scope.frames is not None
            try:
                while True:
                    frame = await scope.frames.newer(seq, 1.0)
                    if frame is None:
                        continue
                    seq = frame.seq
                    body = await asyncio.to_thread(lambda j=frame.jpeg: encode_jpeg(decode(j), 85))
                    await response.write(f"\r\n--{PART_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(body)}\r\nX-Timestamp: {frame.wall:.6f}\r\n"
                                         f"X-Frame-Seq: {frame.seq}\r\n\r\n".encode())
                    await response.write(body)
            except ConnectionError:
                pass
            return response

        app = web.Application()
        app[CONTEXT] = host  # type: ignore[misc]
        app.add_routes([*api.routes(), web.get("/naive", naive)])
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    asyncio.run(main())


# --- the clients (parent process) -------------------------------------------------------------
@dataclass
class ClientStats:
    frames: int = 0
    bytes: int = 0
    latencies: list[float] = field(default_factory=list)


async def client(session: aiohttp.ClientSession, url: str, stats: ClientStats, until: float) -> None:
    async with session.get(url) as response:
        content = response.content
        while time.time() < until:
            head = await content.readuntil(b"\r\n\r\n")
            length = 0
            stamp = 0.0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
                elif name.lower() == b"x-timestamp":
                    stamp = float(value)
            await content.readexactly(length)
            now = time.time()
            stats.frames += 1
            stats.bytes += length
            if stamp:
                stats.latencies.append(now - stamp)


async def run_case(base: str, path: str, clients: int, seconds: float, server: psutil.Process) -> dict[str, float]:
    warmup = 1.0
    stats = [ClientStats() for _ in range(clients)]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        start = time.time() + warmup
        until = start + seconds
        tasks = [asyncio.create_task(client(session, base + path, s, until)) for s in stats]
        await asyncio.sleep(warmup)
        for s in stats:
            s.frames, s.bytes, s.latencies = 0, 0, []
        cpu0 = server.cpu_times()
        await asyncio.gather(*tasks, return_exceptions=True)
        cpu1 = server.cpu_times()
    elapsed = time.time() - start
    cpu = ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / elapsed * 100
    fps = [s.frames / elapsed for s in stats]
    lat = sorted(x for s in stats for x in s.latencies)
    return {
        "fps_min": min(fps), "fps_mean": statistics.mean(fps),
        "cpu_pct": cpu, "cpu_pct_per_client": cpu / clients,
        "kbps_per_client": statistics.mean(s.bytes for s in stats) / elapsed / 1024,
        "lat_p50_ms": lat[len(lat) // 2] * 1000 if lat else float("nan"),
        "lat_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else float("nan"),
    }


async def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "source-1080p.avi"
        make_source(video)
        port = free_port()
        proc = await asyncio.to_thread(subprocess.Popen, [sys.executable, __file__, "--serve", str(video),
                                                          str(port), tmp],
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            server = psutil.Process(proc.pid)
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as session:
                for _ in range(100):
                    try:
                        async with session.get(f"{base}/devices/scope/snapshot") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.2)
            t0 = server.cpu_times()
            await asyncio.sleep(2)
            t1 = server.cpu_times()
            idle = ((t1.user + t1.system) - (t0.user + t0.system)) / 2 * 100
            print(f"source 1920x1080 MJPG 30 fps; server idle (grab thread only): {idle:.1f}% CPU; "
                  f"{psutil.cpu_count()} CPUs")
            print(f"{'mode':<12}{'clients':>8}{'fps min':>9}{'fps avg':>9}{'CPU %':>8}{'CPU %/cl':>10}"
                  f"{'KiB/s/cl':>10}{'p50 ms':>8}{'p99 ms':>8}")
            modes = {"passthrough": "/devices/scope/stream", "reencode": "/naive",
                     "remote": "/devices/scope/stream?width=640&fps=5&quality=60"}
            for mode in args.modes.split(","):
                for n in (int(c) for c in args.clients.split(",")):
                    r = await run_case(base, modes[mode], n, args.seconds, server)
                    print(f"{mode:<12}{n:>8}{r['fps_min']:>9.1f}{r['fps_mean']:>9.1f}{r['cpu_pct']:>8.1f}"
                          f"{r['cpu_pct_per_client']:>10.2f}{r['kbps_per_client']:>10.0f}"
                          f"{r['lat_p50_ms']:>8.1f}{r['lat_p99_ms']:>8.1f}", flush=True)
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,10,30")
    parser.add_argument("--modes", default="passthrough,reencode,remote")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
