"""The service systemd runs: notify (READY, STATUS), watchdog pings from the event loop, a confined unit."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from classroomd.core.systemd_notify import SystemdNotifier
from tests.support.mosquitto import Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "classroomd.service"


def _listen(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    return sock


def _collect(sock: socket.socket, seconds: float) -> list[tuple[float, dict[str, str]]]:
    got: list[tuple[float, dict[str, str]]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        got.append((time.monotonic(), fields))
    return got


async def test_the_daemon_says_ready_with_its_status_and_pings_the_watchdog(tmp_path: Path,
                                                                            mosquitto: Mosquitto) -> None:
    sock = _listen(tmp_path / "notify")
    config = tmp_path / "classroomd.toml"
    config.write_text(f'site = "kz-test-01"\nroom = "biology"\n[agent]\nstate_dir = "{tmp_path / "state"}"\n'
                      f'discovery = false\nmdns = false\n[http]\nlisten = "127.0.0.1:{free_port()}"\n')
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    daemon = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-m", "classroomd", "run", "--config", str(config), "--broker",
                           mosquitto.url], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        got = await asyncio.to_thread(_collect, sock, 8)
    finally:
        daemon.send_signal(signal.SIGINT)
        stopping = await asyncio.to_thread(_collect, sock, 2)
        await asyncio.to_thread(daemon.wait, 20)
        sock.close()
    ready = [f for _, f in got if f.get("READY") == "1"]
    assert ready and re.fullmatch(r"0 devices \(0 online\), broker connected, outbox \d+", ready[0]["STATUS"])
    pings = [t for t, f in got if f.get("WATCHDOG") == "1"]
    # WatchdogSec=1 s: a ping every half period, so at least 8 in the window after start-up.
    assert len(pings) >= 8, got
    assert max(b - a for a, b in itertools.pairwise(pings)) < 0.9
    assert any(f.get("STOPPING") == "1" for _, f in stopping)


async def test_a_blocked_event_loop_stops_the_pings(tmp_path: Path) -> None:
    sock = _listen(tmp_path / "notify")
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000"})
    watch = asyncio.create_task(notifier.run(lambda: "ok"))
    receiving = asyncio.create_task(asyncio.to_thread(_collect, sock, 3.0))
    await asyncio.sleep(1.0)
    time.sleep(1.5)  # noqa: ASYNC251 -- the point: the loop is stuck, as under a hung driver call
    await asyncio.sleep(0.5)
    watch.cancel()
    got = await receiving
    sock.close()
    pings = [t for t, f in got if f.get("WATCHDOG") == "1"]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) > 1.4, "no ping while the loop was blocked"
    assert sorted(gaps)[len(gaps) // 2] < 0.3, "pings every half period otherwise"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is installed with systemd")
def test_the_unit_is_confined_and_valid(tmp_path: Path) -> None:
    scored = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNIT)],
                            capture_output=True, text=True)
    match = re.search(r"Overall exposure level for classroomd.service: (\d+\.\d+)", scored.stdout)
    assert match, scored.stdout + scored.stderr
    assert float(match.group(1)) <= 3.0, scored.stdout
    # verify wants the ExecStart binary to exist: point it at this checkout's command.
    unit = tmp_path / "classroomd.service"
    unit.write_text(UNIT.read_text().replace("/opt/classroomd/bin/classroomd", shutil.which("classroomd")
                                             or str(Path(sys.executable).with_name("classroomd"))))
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    complaints = [line for line in (verified.stdout + verified.stderr).splitlines() if "classroomd" in line]
    assert verified.returncode == 0 and not complaints, verified.stdout + verified.stderr
