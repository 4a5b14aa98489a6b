"""The quick start's demo on a machine where 1883 and 8080 are taken (Debian's Mosquitto service, another
web server): it picks free ports and prints them, instead of stopping at "port busy"."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.support.probe import Probe


@contextlib.contextmanager
def taken(port: int) -> Iterator[None]:
    """Hold the port (if nothing else does already) so the demo finds it busy."""
    sock = socket.socket()
    try:
        with contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            sock.listen()
        yield
    finally:
        sock.close()


async def test_the_demo_moves_to_free_ports_when_its_own_are_taken(tmp_path: Path) -> None:
    config = tmp_path / "demo.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    log = tmp_path / "demo.log"
    with taken(1883), taken(8080), log.open("wb") as out:
        proc = await asyncio.to_thread(subprocess.Popen, [sys.executable, "-m", "classroomd", "run", "--demo",
                                                          "--config", str(config)], stdout=out,
                                       stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            banner = None
            while banner is None and time.monotonic() < deadline:
                banner = re.search(r"broker\s+mqtt://127\.0\.0\.1:(\d+).*?board\s+http://127\.0\.0\.1:(\d+)/",
                                   log.read_text(), re.S)
                await asyncio.sleep(0.5)
            assert banner is not None, log.read_text()
            broker, http = int(banner.group(1)), int(banner.group(2))
            assert broker != 1883 and http != 8080
            assert "port 1883 is taken" in log.read_text()
            probe = Probe(broker, protocol=mqtt.MQTTv311).connect()
            await asyncio.to_thread(probe.subscribe, "classroom/demo-school/demo-room/agent")
            agent = await asyncio.to_thread(probe.wait_topic, "classroom/demo-school/demo-room/agent", 20)
            probe.close()
            assert agent["state"] == "online" and agent["http"].endswith(f":{http}")
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.to_thread(proc.wait, 30)
