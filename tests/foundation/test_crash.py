"""A daemon killed with messages in its outbox delivers them after restart."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe

ROOT = "classroom/crash-site/lab"


def write_config(path: Path, broker: Mosquitto, state: Path, health_s: float, rate: float) -> Path:
    path.write_text(
        'site = "crash-site"\nroom = "lab"\n'
        f'[mqtt]\nurl = "{broker.url}"\nreconnect_min_s = 0.2\n'
        f'[agent]\nstate_dir = "{state}"\nhealth_interval_s = {health_s}\n'
        f"[outbox]\ndrain_rate_per_s = {rate}\nreconnect_jitter_s = 0\n"
        '[http]\nlisten = "127.0.0.1:0"\n'
    )
    return path


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "classroomd", "run", "--config", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def queued_health(state: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(state / "outbox.sqlite3")
    try:
        rows = db.execute("SELECT payload FROM outbox WHERE topic LIKE '%/agent/health'").fetchall()
    finally:
        db.close()
    return [json.loads(r[0]) for r in rows]


async def test_sigkill_with_queued_messages(tmp_path: Path, mosquitto: Mosquitto) -> None:
    state = tmp_path / "state"
    log = tmp_path / "daemon.log"
    probe = Probe(mosquitto.port, client_id="district", persistent=True).connect()
    await asyncio.to_thread(probe.subscribe, f"{ROOT}/#")

    # Health every 50 ms but drained at 5/s: the outbox fills up while connected.
    slow = write_config(tmp_path / "slow.toml", mosquitto, state, 0.05, 5)
    daemon = start_daemon(slow, log)
    try:
        first = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/agent", 20, lambda s: s["state"] == "online")
        await asyncio.sleep(2.0)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
    finally:
        if daemon.poll() is None:
            daemon.kill()

    will = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/agent", 20, lambda s: s["state"] == "offline")
    assert will["session"] == first["session"], "the will carries the session that died"
    queued = [m for m in queued_health(state) if m["session"] == first["session"]]
    assert len(queued) >= 5, "the test needs messages left in the outbox at the kill"
    expected = {m["msg_id"] for m in queued}

    fast = write_config(tmp_path / "fast.toml", mosquitto, state, 30, 0)
    daemon = start_daemon(fast, log)
    try:
        second = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/agent", 20,
                                         lambda s: s["state"] == "online" and s["session"] != first["session"])
        assert second["session"] == first["session"] + 1

        def delivered() -> set[str]:
            return {json.loads(m.payload)["msg_id"] for m in probe.on(f"{ROOT}/agent/health") if m.payload}

        deadline = time.monotonic() + 20
        while not expected <= delivered() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert expected <= delivered(), f"lost: {sorted(expected - delivered())[:5]}"
        late = [json.loads(m.payload) for m in probe.on(f"{ROOT}/agent/health")
                if m.payload and json.loads(m.payload)["msg_id"] in expected]
        assert all(m["replayed"] is True for m in late)
        # across both runs, session 1's health has no gap
        seqs = sorted({json.loads(m.payload)["seq"] for m in probe.on(f"{ROOT}/agent/health")
                       if m.payload and json.loads(m.payload)["session"] == first["session"]})
        assert seqs == list(range(1, seqs[-1] + 1))
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
    # a clean stop announces itself offline too
    await asyncio.to_thread(probe.wait_topic, f"{ROOT}/agent", 10,
                            lambda s: s["state"] == "offline" and s["session"] == second["session"])
    probe.close()
