"""`classroomd run --demo` on the embedded broker: a paho client sees the whole classroom."""

from __future__ import annotations

import asyncio
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil

from tests.support.mosquitto import free_port, wait_port
from tests.support.probe import Probe

KINDS = {"panel", "microscope", "tablet", "touch_table", "globe", "printer"}
ROOT = "classroom/demo-school/demo-room"


async def test_demo_shows_six_devices_on_the_embedded_broker(tmp_path: Path) -> None:
    broker_port, http_port = free_port(), free_port()
    config = tmp_path / "demo.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    log = (tmp_path / "demo.log").open("wb")
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "classroomd", "run", "--demo", "--config", str(config),
         "--broker", f"embedded://127.0.0.1:{broker_port}", "--http", f"127.0.0.1:{http_port}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        await asyncio.to_thread(wait_port, broker_port, 30)
        started = time.monotonic()
        probe = Probe(broker_port, protocol=mqtt.MQTTv311).connect()
        await asyncio.to_thread(probe.subscribe, f"{ROOT}/#")

        def six_online(inventory: list[dict[str, str]]) -> bool:
            return {d["kind"] for d in inventory if d["availability"] == "online"} == KINDS

        inventory = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/devices", 20, six_online)
        took = time.monotonic() - started
        assert len(inventory) == 6
        agent = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/agent", 5)
        assert agent["state"] == "online" and agent["http"] == f"http://127.0.0.1:{http_port}"
        for device in inventory:
            # Earlier states (init, before the device opened) were published too: wait for the online one.
            state = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/{device['id']}", 5,
                                            lambda s: s["availability"] == "online")
            assert state["kind"] == device["kind"] and state["status"] in ("ready", "busy")
        print(f"six devices online {took:.1f}s after the broker came up")
        probe.close()
        # The simulated hardware runs beside the agent, not inside it: the agent is measured alone.
        children = [" ".join(c.cmdline()) for c in psutil.Process(proc.pid).children()]
        simulators = [c for c in children if "classroomd simulate" in c]
        assert len(simulators) == 1, children
        await _the_printed_print_line_works_when_pasted(tmp_path / "demo.log")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    commands = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
    leftover = [c for c in commands if str(tmp_path) in c and "classroomd simulate" in c]
    assert not leftover, "the simulators stop with the demo"
    output = (tmp_path / "demo.log").read_text()
    assert "mosquitto_sub" in output and f"http://127.0.0.1:{http_port}/board" in output
    assert "Traceback" not in output, output


async def _the_printed_print_line_works_when_pasted(log_path: Path) -> None:
    lines = [line for line in log_path.read_text().splitlines() if line.strip().startswith("try ")]
    assert lines, "the banner offers a print command to try"
    command = lines[0].split("try", 1)[1].strip()
    assert "HOST" not in command and "STATE_DIR" not in command
    proc = await asyncio.to_thread(subprocess.Popen, shlex.split(command), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
    try:
        seen: list[str] = []

        def until_progress() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                seen.append(line)
                if "%" in line:
                    return

        await asyncio.wait_for(asyncio.to_thread(until_progress), 60)
        assert any("uploaded demo-vase.gcode" in line for line in seen), seen
    finally:
        proc.kill()
        proc.wait(10)
