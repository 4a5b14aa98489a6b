"""Bytes a classroom costs its district uplink in a school day, and messages on its own LAN.

Run: .venv/bin/python bench/uplink_bytes.py [--speed 240] [--lan-window 60] [--reconnects 10] [--lan-only]

Everything real: two Mosquitto processes (the school's and the district's), the agent in this
process with the demo classroom's six simulated devices, and a TCP relay in front of each broker
that counts the bytes the agent writes (the agent's own socket-level count is printed beside it).

1. The school day (uplink). A day is 24 h with six 40-minute lessons from 08:30 (10-minute
   breaks): in each a lesson starts and ends, the microscope captures, the globe is touched, the
   pen tablet and touch table replay their recordings; the third lesson prints a small G-code
   file on the Marlin simulator. The link is cut `--reconnects` times for five (day) minutes.
   Time is compressed by `--speed`: every interval of the day (health, lessons, cuts) is divided by
   it, so the day runs in 86400/speed seconds and sends as many health reports, lesson changes,
   reconnects and print outcomes as a real day, each one real bytes on a real socket. What is not
   compressed is the simulated input (a pen moves in real time), which never reaches the district
   except as the usage counters inside health.
2. The LAN (real time, `--lan-window` s each): messages and bytes per minute the agent publishes
   to the classroom's broker with the classroom idle (devices present, nobody using them) and
   during a lesson (pen, table and globe in use, a capture, a print). A bridge forwarding the
   whole classroom to the district would carry exactly this; the day figure "all of it" is
   idle per minute x 1200 min + lesson per minute x 240 min.

`--lan-only` runs part 2 only, so it can be run on older code for the before figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classroomd.config.schema import Config, DeviceConfig
from classroomd.core.vocabulary import Localized
from classroomd.daemon.agent import Agent
from classroomd.daemon.demo import start_simulators, stop_simulators
from classroomd.drivers.evdev_input import EV_SYN, SYN_REPORT, write_recording
from classroomd.simulators.base import DemoDevice
from classroomd.simulators.globe import GlobeSimulator
from classroomd.simulators.input import PEN_CAPS, TOUCH_CAPS
from classroomd.simulators.printer import vase_gcode
from tests.support.link_proxy import LinkProxy
from tests.support.mosquitto import Mosquitto, free_port
from tests.support.probe import Probe

DAY_S = 86_400
LESSONS = [(8 * 3600 + 30 * 60 + i * 50 * 60, 40 * 60) for i in range(6)]
ROOT = "classroom/bench-school/r1"


def config(state: Path, school_url: str, health_s: float, uplink: dict[str, Any] | None) -> Config:
    data: dict[str, Any] = {
        "site": "bench-school", "room": "r1",
        "mqtt": {"url": school_url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        "agent": {"state_dir": str(state), "health_interval_s": health_s, "discovery": False, "mdns": False},
        "outbox": {"reconnect_jitter_s": 0},
        "http": {"listen": f"127.0.0.1:{free_port()}"},
    }
    if uplink is not None:
        data["uplink"] = uplink
    return Config.model_validate(data)


async def quiet_devices(workdir: Path) -> tuple[list[DeviceConfig], list[DemoDevice]]:
    """The classroom with nobody using it: the same devices, the input ones silent."""
    sims = await start_simulators(workdir, {"tablet", "touch_table", "globe"})
    workdir.mkdir(parents=True, exist_ok=True)
    pen, touch = workdir / "quiet-pen.json", workdir / "quiet-touch.json"
    write_recording(pen, PEN_CAPS, [(3600.0, EV_SYN, SYN_REPORT, 0)])
    write_recording(touch, TOUCH_CAPS, [(3600.0, EV_SYN, SYN_REPORT, 0)])
    globe = GlobeSimulator()
    globe.banner()
    sims.append(DemoDevice(DeviceConfig.model_validate(
        {"id": "globe-1", "kind": "globe", "port": globe.path, "profile": "default"}), globe.close))
    configs = [s.config for s in sims] + [
        DeviceConfig.model_validate({"id": "tablet-1", "kind": "tablet", "source": f"replay://{pen}"}),
        DeviceConfig.model_validate({"id": "table-1", "kind": "touch_table", "source": f"replay://{touch}"}),
    ]
    return configs, sims


@contextlib.asynccontextmanager
async def running(cfg: Config, devices: list[DeviceConfig]) -> AsyncIterator[Agent]:
    agent = Agent(cfg, demo_devices=devices)
    await agent.start()
    try:
        assert await agent.wait_connected(10)
        deadline = time.monotonic() + 30
        while any(str(d.status) != "ready" for d in agent.registry) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        yield agent
    finally:
        await agent.stop()


async def lesson_activity(agent: Agent, n: int, print_it: bool) -> None:
    agent.lessons.start("Биология", "Айгүл Серікқызы", f"bench-{n}")
    agent.lesson_changed()
    scope = agent.registry.get("scope-1")
    if scope is not None:
        with contextlib.suppress(Exception):
            await scope.request("capture", {})
    printer = agent.registry.get("printer-1")
    if print_it and printer is not None:
        gcode = vase_gcode(turns=1, segments=40).encode()

        async def chunks() -> AsyncIterator[bytes]:
            yield gcode

        upload = await agent.uploads.save_stream("bench.gcode", chunks(), 1 << 20)
        with contextlib.suppress(Exception):
            await printer.request("print", {"file_id": upload.id, "confirm_bed_clear": True})


def end_lesson(agent: Agent) -> None:
    if agent.lessons.current is not None:
        agent.lessons.end()
        agent.lesson_changed()


def kind_of(topic: str) -> str:
    """A topic's stream without the classroom prefix, devices folded by what they publish."""
    rest = topic[len(ROOT) + 1:] if topic.startswith(ROOT + "/") else topic
    if "/event/" in rest:
        return "{id}/event/" + rest.rsplit("/", 1)[-1]
    if rest.endswith("/availability"):
        return "{id}/availability"
    if rest.startswith("alert/"):
        return "alert/{id}"
    if "/" not in rest and rest not in ("agent", "devices", "lesson"):
        return f"{{id}} state ({rest})"
    return rest


async def lan_window(agent: Agent, probe: Probe, relay: LinkProxy, seconds: float) -> tuple[float, float, str]:
    await asyncio.sleep(2)  # the start's own publishes are not the steady state
    start_msgs, start_bytes = len(probe.messages), relay.upstream_bytes
    await asyncio.sleep(seconds)
    minutes = seconds / 60
    with probe.lock:
        window = probe.messages[start_msgs:]
    counts: dict[str, int] = {}
    for m in window:
        counts[kind_of(m.topic)] = counts.get(kind_of(m.topic), 0) + 1
    top = ", ".join(f"{k} {n / minutes:.0f}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:8])
    return len(window) / minutes, (relay.upstream_bytes - start_bytes) / minutes, top


async def lan_rates(tmp: Path, window: float) -> None:
    school = Mosquitto(tmp / "school-lan")
    school.start()
    relay = LinkProxy(school.port)
    await relay.start()
    probe = Probe(school.port).connect()
    probe.subscribe(f"{ROOT}/#")
    try:
        devices, sims = await quiet_devices(tmp / "quiet")
        try:
            async with running(config(tmp / "idle", relay.url, 30, None), devices) as agent:
                idle = await lan_window(agent, probe, relay, window)
        finally:
            await stop_simulators(sims)
        sims = await start_simulators(tmp / "busy", set())
        try:
            async with running(config(tmp / "lesson", relay.url, 30, None), [s.config for s in sims]) as agent:
                await lesson_activity(agent, 1, print_it=True)
                lesson = await lan_window(agent, probe, relay, window)
        finally:
            await stop_simulators(sims)
    finally:
        probe.close()
        await relay.cut()
        school.stop()
    day = idle[1] * (1440 - 240) + lesson[1] * 240
    print(f"LAN, idle:         {idle[0]:8.1f} messages/min  {idle[1] / 1024:8.1f} KB/min")
    print(f"    per minute: {idle[2]}")
    print(f"LAN, lesson:       {lesson[0]:8.1f} messages/min  {lesson[1] / 1024:8.1f} KB/min")
    print(f"    per minute: {lesson[2]}")
    print(f"LAN, a whole day:  {day / 1e6:8.2f} MB (what a bridge forwarding everything would carry)")


async def school_day(tmp: Path, speed: float, reconnects: int) -> None:
    school, district = Mosquitto(tmp / "school"), Mosquitto(tmp / "district")
    school.start()
    district.start()
    relay = LinkProxy(district.port)
    await relay.start()
    up = Probe(district.port).connect()
    up.subscribe("#")
    sims = await start_simulators(tmp / "sims", set())
    uplink = {"url": relay.url, "health_interval_s": 60 / speed, "reconnect_min_s": 0.05,
              "reconnect_max_s": 0.2, "reconnect_jitter_s": 30 / speed, "drain_rate_per_s": 5 * speed,
              "first_connect_jitter_s": 20 / speed}
    cuts = [DAY_S * (i + 0.5) / reconnects for i in range(reconnects)]
    try:
        async with running(config(tmp / "day", school.url, 30 / speed, uplink), [s.config for s in sims]) as agent:
            assert agent.uplink is not None
            printer = agent.registry.get("printer-1")
            began = time.monotonic()

            def day_now() -> float:
                return (time.monotonic() - began) * speed

            plan = sorted([(t, "cut") for t in cuts] + [(s, f"lesson {i}") for i, (s, _) in enumerate(LESSONS)]
                          + [(s + d, "end") for s, d in LESSONS] + [(DAY_S, "done")])
            for at, what in plan:
                await asyncio.sleep(max(0.0, (at - day_now()) / speed))
                if what == "cut":
                    await relay.cut()
                    await asyncio.sleep(300 / speed)
                    await relay.restore()
                elif what == "end":
                    end_lesson(agent)
                    if printer is not None:
                        agent.clear_alert(printer, "filament_runout")
                elif what.startswith("lesson"):
                    n = int(what.split()[1])
                    await lesson_activity(agent, n, print_it=n == 2)
                    if n == 4 and printer is not None:  # a fault a day, raised and cleared
                        agent.alert(printer, "filament_runout", "warning",
                                    Localized("жіп бітті", "кончился пластик", "filament ran out"))
            deadline = time.monotonic() + 30
            while agent.uplink.outbox.depth and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            sent, received, connects = agent.uplink.traffic.today()
    finally:
        await stop_simulators(sims)
        up.close()
        await relay.cut()
        school.stop()
        district.stop()
    by_kind: dict[str, list[int]] = {}
    for m in up.messages:
        slot = by_kind.setdefault(kind_of(m.topic), [0, 0])
        slot[0] += 1
        slot[1] += len(m.topic) + len(m.payload) + 4
    health = [m.json() for m in up.messages if m.topic.endswith("/agent/health") and m.payload]
    print(f"uplink, one school day at speed {speed:g} ({DAY_S / speed:.0f} s), {connects} connections:")
    print(f"  sent {sent / 1e6:.3f} MB (agent's socket count; the relay counted {relay.upstream_bytes / 1e6:.3f} MB), "
          f"received {received / 1e6:.3f} MB; target <= 1 MB sent")
    print(f"  health reports: {len(health)}, last {len(json.dumps(health[-1]).encode()) if health else 0} bytes")
    for kind, (count, size) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
        print(f"    {kind:24s} {count:6d} messages  {size / 1024:8.1f} KB (topic + payload + 4)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--speed", type=float, default=240.0)
    parser.add_argument("--lan-window", type=float, default=60.0)
    parser.add_argument("--reconnects", type=int, default=10)
    parser.add_argument("--lan-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        await lan_rates(Path(tmp), args.lan_window)
        if not args.lan_only:
            await school_day(Path(tmp), args.speed, args.reconnects)


if __name__ == "__main__":
    asyncio.run(main())
