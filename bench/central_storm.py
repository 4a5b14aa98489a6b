"""Reconnect storm: N simulated classrooms on Mosquitto, the broker restarted.

Central runs as its own process (`classroomd central run`, SQLite) so its CPU and memory are
its own; the classrooms are asyncio clients in this process, with the agent's back-off
(0.5 s doubling to 60 s, jittered). Prints the time until central shows every classroom
online again, failed connects, central's peak CPU and memory, and whether any classroom was
shown offline after the recovery. Usage: python -m bench.central_storm [N] [outage_s]
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from classroomd.central.simulate import SimClassroom
from tests.support.mosquitto import Mosquitto, free_port, wait_port

TICK = os.sysconf("SC_CLK_TCK")


class FailedConnects(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "broker %s: %s":
            self.count += 1


class Usage:
    """Central's CPU (% of one core) and resident memory, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.last = (time.monotonic(), self._ticks())
        self.peak_cpu = 0.0
        self.peak_rss_mb = 0.0

    def _ticks(self) -> int:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def sample(self) -> None:
        now, ticks = time.monotonic(), self._ticks()
        cpu = (ticks - self.last[1]) / TICK / max(now - self.last[0], 1e-3) * 100
        self.last = (now, ticks)
        rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{self.pid}/status").read_text().splitlines()
                      if line.startswith("VmRSS:"))
        self.peak_cpu, self.peak_rss_mb = max(self.peak_cpu, cpu), max(self.peak_rss_mb, rss_kb / 1024)


async def presence(http: aiohttp.ClientSession, base: str) -> dict[str, int]:
    async with http.get(base + "/api/v1/sites") as r:
        sites = await r.json()
    totals: dict[str, int] = {}
    for site in sites:
        for state, n in site["presence"].items():
            totals[state] = totals.get(state, 0) + n
    return totals


async def back_since(http: aiohttp.ClientSession, base: str, after: float) -> int:
    """Classrooms online whose last live message came after `after` (UNIX seconds): really back.

    Counting presence alone would be too kind: central re-reads the retained births when it
    reconnects, before the classrooms themselves are back.
    """
    async with http.get(base + "/api/v1/classrooms") as r:
        rooms = await r.json()
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(after))
    return sum(1 for room in rooms if room["presence"] == "online" and (room["last_seen"] or "") >= cutoff)


async def wait_all_online(http: aiohttp.ClientSession, base: str, n: int, usage: Usage, timeout: float,
                          after: float = 0.0) -> float:
    started = time.monotonic()
    seen = 0
    while time.monotonic() - started < timeout:
        seen = await back_since(http, base, after)
        usage.sample()
        if seen == n:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise TimeoutError(f"only {seen} of {n} back after {timeout}s")


async def main(n: int, outage_s: float) -> None:
    failed = FailedConnects()
    logging.getLogger("classroomd.bus").addHandler(failed)
    logging.getLogger("classroomd.bus").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        port = free_port()
        central = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "classroomd", "central", "run", "--broker", broker.url, "--http",
            f"127.0.0.1:{port}", "--state-dir", str(Path(tmp) / "central"), "--log-level", "ERROR")
        base = f"http://127.0.0.1:{port}"
        rooms = [SimClassroom(broker.url, f"school-{i // 4 + 1:04d}", f"room-{i % 4 + 1}", keepalive_s=30,
                              health_interval_s=60, reconnect_min_s=0.5, reconnect_max_s=60) for i in range(n)]
        try:
            await asyncio.to_thread(wait_port, port, 30)
            usage = Usage(central.pid)
            started = time.monotonic()
            for i in range(0, n, 100):
                await asyncio.gather(*(room.start() for room in rooms[i:i + 100]))
            connected = time.monotonic() - started
            async with aiohttp.ClientSession() as http:
                took = await wait_all_online(http, base, n, usage, 300)
                print(f"{n} classrooms connected in {connected:.1f} s; all online in central after "
                      f"{connected + took:.1f} s; central peak CPU {usage.peak_cpu:.0f} %, "
                      f"RSS {usage.peak_rss_mb:.0f} MB", flush=True)
                usage.peak_cpu = 0.0
                failed.count = 0
                broker.stop()
                down = time.monotonic()
                await asyncio.sleep(outage_s)
                broker.start()
                back = time.monotonic()
                # last_seen has whole seconds: the cutoff is the second the broker came back.
                took = await wait_all_online(http, base, n, usage, 300, after=float(int(time.time())))
                print(f"broker down {back - down:.1f} s; every classroom online again {took:.1f} s after the "
                      f"broker came back; failed connects {failed.count}; central peak CPU {usage.peak_cpu:.0f} %, "
                      f"RSS {usage.peak_rss_mb:.0f} MB", flush=True)
                # False offline: any classroom shown offline in the 20 s after every one was back.
                worst = 0
                for _ in range(40):
                    worst = max(worst, (await presence(http, base)).get("offline", 0))
                    await asyncio.sleep(0.5)
                print(f"classrooms shown offline after recovery (20 s watch): {worst}")
        finally:
            await asyncio.gather(*(room.stop() for room in rooms), return_exceptions=True)
            central.terminate()
            await asyncio.wait_for(central.wait(), 20)
            broker.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000,
                     float(sys.argv[2]) if len(sys.argv) > 2 else 10.0))
