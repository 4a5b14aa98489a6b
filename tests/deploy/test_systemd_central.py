"""The central server as systemd runs it: notify (READY, STATUS), watchdog pings, a confined unit."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.deploy.test_systemd import _collect, _listen
from tests.support.mosquitto import Mosquitto, free_port

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "classroomd-central.service"


async def test_central_says_ready_with_its_status_and_pings_the_watchdog(tmp_path: Path,
                                                                         mosquitto: Mosquitto) -> None:
    sock = _listen(tmp_path / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    port = free_port()
    central = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-m", "classroomd", "central", "run", "--broker", mosquitto.url,
                           "--http", f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        got = await asyncio.to_thread(_collect, sock, 8)
        # READY means the API answers already.
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as answer:
            healthz = answer.status
    finally:
        central.send_signal(signal.SIGINT)
        stopping = await asyncio.to_thread(_collect, sock, 2)
        _, errors = await asyncio.to_thread(central.communicate, None, 20)
        sock.close()
    ready = [f for _, f in got if f.get("READY") == "1"]
    assert ready, (got, errors)
    assert ready[0]["STATUS"] == "0 classrooms, broker connected"
    assert healthz == 200
    pings = [t for t, f in got if f.get("WATCHDOG") == "1"]
    # WatchdogSec=1 s: a ping every half period, so at least 8 in the window after start-up.
    assert len(pings) >= 8, got
    assert max(b - a for a, b in itertools.pairwise(pings)) < 0.9
    assert any(f.get("STOPPING") == "1" for _, f in stopping)
    assert central.returncode == 0, errors


async def test_central_is_ready_without_its_broker_after_a_while(tmp_path: Path) -> None:
    """A district broker that is down at boot must not keep the API (and the READY) away for good."""
    sock = _listen(tmp_path / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")}
    central = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-m", "classroomd", "central", "run", "--broker",
                           f"mqtt://127.0.0.1:{free_port()}", "--http", f"127.0.0.1:{free_port()}",
                           "--state-dir", str(tmp_path / "state")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        got = await asyncio.to_thread(_collect, sock, 14)
    finally:
        central.send_signal(signal.SIGINT)
        await asyncio.to_thread(central.wait, 20)
        sock.close()
    ready = [f for _, f in got if f.get("READY") == "1"]
    assert ready and ready[0]["STATUS"] == "0 classrooms, broker not connected", got


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is installed with systemd")
def test_the_central_unit_is_confined_and_valid(tmp_path: Path) -> None:
    scored = subprocess.run(["systemd-analyze", "security", "--offline=true", str(UNIT)],
                            capture_output=True, text=True)
    match = re.search(r"Overall exposure level for classroomd-central.service: (\d+\.\d+)", scored.stdout)
    assert match, scored.stdout + scored.stderr
    assert float(match.group(1)) <= 3.0, scored.stdout
    # It needs no device at all, unlike the agent.
    assert re.search(r"^PrivateDevices=yes$", UNIT.read_text(), re.M)
    # verify wants the ExecStart binary to exist: point it at this checkout's command.
    unit = tmp_path / "classroomd-central.service"
    unit.write_text(UNIT.read_text().replace("/opt/classroomd/bin/classroomd", shutil.which("classroomd")
                                             or str(Path(sys.executable).with_name("classroomd"))))
    verified = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    complaints = [line for line in (verified.stdout + verified.stderr).splitlines() if "classroomd" in line]
    assert verified.returncode == 0 and not complaints, verified.stdout + verified.stderr


def test_the_shipped_central_config_passes_the_check_and_a_broken_one_names_its_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "classroomd", "central", "config", "check"]
    example = ROOT / "config" / "central.example.toml"
    checked = subprocess.run([*command, str(example)], capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout.startswith(f"{example}: OK: central (all)"), checked.stderr
    broken = tmp_path / "central.toml"
    broken.write_text(example.read_text().replace('http = "127.0.0.1:8090"', 'http = "8090"')
                      + 'db = "postgresql://central:secret@db:5432/classroomd"\n')
    refused = subprocess.run([*command, str(broken)], capture_output=True, text=True)
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if text.startswith("http ="))
    assert refused.returncode == 1 and f"{broken}:{line}: central.http" in refused.stderr, refused.stderr
    # A password in a database URL is not printed: a config check's output is often pasted in a ticket.
    fixed = broken.read_text().replace('http = "8090"', 'http = "0.0.0.0:8090"')
    broken.write_text(fixed)
    shown = subprocess.run([*command, str(broken)], capture_output=True, text=True)
    assert "postgresql://central:***@db:5432/classroomd" in shown.stdout and "secret" not in shown.stdout
