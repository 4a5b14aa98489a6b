"""A card print outlives the daemon: `classroomd run` is SIGKILLed mid-print and started again.

The simulated printer lives in the test process and keeps printing from its card while no
daemon holds its port; the second daemon finds the print with M27, follows it and records
one finished job.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from classroomd.simulators.marlin_firmware import MarlinSimulator
from tests.printer.support import moves, profile, write_gcode
from tests.printer.test_end_to_end import ROOT, request
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe


def write_config(path: Path, broker: Mosquitto, state: Path, port: str) -> Path:
    path.write_text(
        'site = "kz-test-01"\nroom = "biology"\n'
        f'[mqtt]\nurl = "{broker.url}"\nreconnect_min_s = 0.2\n'
        f'[agent]\nstate_dir = "{state}"\ndiscovery = false\nmdns = false\n'
        '[outbox]\nreconnect_jitter_s = 0\ndrain_rate_per_s = 0\n'
        '[http]\nlisten = "127.0.0.1:0"\n'
        '[[devices]]\nid = "printer-1"\nkind = "printer"\nname = "Prusa MK4"\n'
        f'port = "{port}"\nbaud = 115200\nreset_wait_s = 1.0\nprint_from = "sd"\nsd_poll_s = 0.2\n'
        "progress_interval_s = 0.5\n")
    return path


def start_daemon(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "classroomd", "run", "--config", str(config)],
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def online(probe: Probe, session: int = 0) -> dict[str, Any]:
    agent: dict[str, Any] = await asyncio.to_thread(
        probe.wait_topic, f"{ROOT}/agent", 30, lambda s: s["state"] == "online" and s["session"] > session)
    await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1", 30, lambda s: s["status"] in ("ready", "busy"))
    return agent


async def upload(base: str, token: str, path: Path) -> str:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        form = aiohttp.FormData()
        form.add_field("file", path.read_bytes(), filename=path.name)
        async with http.post(f"{base}/api/v1/uploads", data=form) as response:
            assert response.status == 201, await response.text()
            return str((await response.json())["file"]["id"])


async def test_a_card_print_finishes_after_the_daemon_was_killed_and_restarted(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    # A native-USB board: opening its port again does not reset it (docs/printers.md says which do).
    sim = MarlinSimulator(profile(motion_scale=0.0, heat_rate_c_s=200.0, reset_on_open=False))
    await sim.start()
    state, log = tmp_path / "state", tmp_path / "daemon.log"
    config = write_config(tmp_path / "classroomd.toml", mosquitto, state, sim.port)
    # About twelve seconds from the card (a pause every ten moves): room for a slow restart on a busy machine.
    commands = [c for i, m in enumerate(moves(600)) for c in ([m, "G4 P200"] if i % 10 == 9 else [m])]
    gcode = write_gcode(tmp_path / "gear.gcode", ["M140 S60", "M104 S210", "G28", *commands, "M104 S0"])
    probe = Probe(mosquitto.port).connect()
    await asyncio.to_thread(probe.subscribe, f"{ROOT}/#")
    daemon = start_daemon(config, log)
    try:
        first = await online(probe)
        file_id = await upload(first["http"], (state / "token").read_text().strip(), gcode)
        reply = await request(probe, "print", {"file_id": file_id, "confirm_bed_clear": True}, 1)
        assert reply["status"] == "ok" and reply["data"]["job"]["print_from"] == "sd", reply
        job_id = reply["data"]["job"]["id"]
        async with asyncio.timeout(30):
            while len(sim.sd_executed) < 60:
                await asyncio.sleep(0.05)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        at_kill = len(sim.sd_executed)
        await asyncio.sleep(0.5)
        assert sim.reader.printing and len(sim.sd_executed) > at_kill, "the printer goes on alone"

        daemon = start_daemon(config, log)
        await online(probe, first["session"])
        reattached = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1/event/job_reattached", 30)
        assert reattached["job"]["id"] == job_id
        done = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1/event/job_finished", 40)
        assert done["job"]["id"] == job_id and done["job"]["outcome"] == "finished"
        assert sim.sd_executed[-1] == "M104 S0" and not sim.reader.printing
        history = await request(probe, "history", {}, 2)
        assert [(j["id"], j["outcome"], j["print_from"]) for j in history["data"]["jobs"]] == [
            (job_id, "finished", "sd")]
        assert not probe.on(f"{ROOT}/printer-1/event/job_failed")
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
        probe.close()
        await sim.close()
