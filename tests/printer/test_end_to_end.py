"""Through the real daemon: upload over HTTP, print by an MQTT request, watch the job end on MQTT; and the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classroomd.daemon.agent import Agent
from classroomd.simulators.marlin_firmware import MarlinSimulator
from tests.foundation.conftest import agent_config
from tests.printer.support import moves, profile, write_gcode
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe

ROOT = "classroom/kz-test-01/biology"


@pytest.fixture
async def classroom(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[tuple[Agent, Probe, MarlinSimulator]]:
    sim = MarlinSimulator(profile(motion_scale=0.0, heat_rate_c_s=200.0))
    await sim.start()
    device = {"id": "printer-1", "kind": "printer", "name": "Prusa", "port": sim.port, "baud": 115200,
              "reset_wait_s": 1.0, "progress_interval_s": 0.1}
    agent = Agent(agent_config(tmp_path, mosquitto.url, devices=[device]))
    await agent.start()
    probe = Probe(mosquitto.port).connect()
    try:
        assert await agent.wait_connected(10)
        await asyncio.to_thread(probe.subscribe, f"{ROOT}/#")
        await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1", 10, lambda s: s["status"] == "ready")
        yield agent, probe, sim
    finally:
        probe.close()
        await agent.stop()
        await sim.close()


async def http_upload(agent: Agent, path: Path) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {agent.token}"}) as http:
        form = aiohttp.FormData()
        form.add_field("file", path.read_bytes(), filename=path.name)
        async with http.post(f"{agent.http_base}/api/v1/uploads", data=form) as response:
            assert response.status == 201, await response.text()
            file: dict[str, Any] = (await response.json())["file"]
            return file


async def request(probe: Probe, action: str, body: dict[str, Any] | str, transaction: int) -> dict[str, Any]:
    payload = body if isinstance(body, str) else json.dumps({**body, "transaction": transaction})
    await asyncio.to_thread(probe.publish, f"{ROOT}/printer-1/request/{action}", payload)

    def mine(reply: Any) -> bool:
        return isinstance(reply, dict) and (reply.get("transaction") == transaction or isinstance(body, str))

    reply: dict[str, Any] = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1/response/{action}", 10, mine)
    return reply


async def test_upload_over_http_print_over_mqtt_and_job_finished_arrives(
        classroom: tuple[Agent, Probe, MarlinSimulator], tmp_path: Path) -> None:
    agent, probe, sim = classroom
    commands = ["M140 S55", "M104 S200", "G28", "M190 S55", "M109 S200", *moves(1500), "M104 S0", "M140 S0"]
    file = await http_upload(agent, write_gcode(tmp_path / "owl.gcode", commands))

    refused = await request(probe, "print", {"file_id": file["id"]}, 1)
    assert refused["status"] == "error" and refused["error"]["code"] == "bed_clear_not_confirmed"
    refused = await request(probe, "print", {"file_id": file["id"], "confirm_bed_clear": True, "colour": "red"}, 2)
    assert refused["error"]["code"] == "invalid_arguments"
    refused = await request(probe, "print", {"file_id": "feedfacefeedfacefeed", "confirm_bed_clear": True}, 3)
    assert refused["error"]["code"] == "unknown_file"
    refused = await request(probe, "print", "{not json", 4)
    assert refused["status"] == "error"

    sim.set_noise(3e-4)  # a long, cheap USB cable
    reply = await request(probe, "print", {"file_id": file["id"], "confirm_bed_clear": True}, 5)
    assert reply["status"] == "ok" and reply["data"]["started"] is True
    job_id = reply["data"]["job"]["id"]
    finished = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1/event/job_finished", 30,
                                       lambda e: e["job"]["id"] == job_id)
    assert finished["job"]["outcome"] == "finished" and finished["job"]["lines_sent"] == len(commands)
    assert finished["job"]["lines_resent"] > 0 and sim.stats.checksum_errors > 0
    assert "seq" in finished and "session" in finished
    assert [c for _, c in sim.executed][-len(commands):] == commands
    started = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1/event/job_started", 5)
    assert started["job"]["id"] == job_id

    history = await request(probe, "history", {}, 6)
    assert history["data"]["jobs"][0]["id"] == job_id and history["data"]["jobs"][0]["outcome"] == "finished"
    state = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1", 5,
                                    lambda s: s["job"] is None and s["temperatures"]["bed"]["target"] == 0)
    assert state["temperatures"]["hotend"]["actual"] is not None and state["queue"] == 0


async def test_classroomd_print_uploads_starts_and_follows_the_job(
        classroom: tuple[Agent, Probe, MarlinSimulator], tmp_path: Path, mosquitto: Mosquitto) -> None:
    agent, _probe, sim = classroom
    sim.profile.motion_scale = 0.02
    path = write_gcode(tmp_path / "cube.gcode", moves(800))
    command = [sys.executable, "-m", "classroomd", "print", str(path), "--printer", "printer-1", "--wait",
               "--bed-clear", "--broker", mosquitto.url, "--state-dir", str(agent.state_dir)]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "uploaded cube.gcode" in done.stdout and "100.0%" in done.stdout
    assert ": finished" in done.stdout


async def test_a_daemon_restart_mid_queue_keeps_the_queue_and_the_interrupted_record(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    sim = MarlinSimulator(profile(motion_scale=0.05, heat_rate_c_s=200.0))
    await sim.start()
    device = {"id": "printer-1", "kind": "printer", "port": sim.port, "reset_wait_s": 1.0}
    config = agent_config(tmp_path, mosquitto.url, devices=[device])
    probe = Probe(mosquitto.port).connect()
    try:
        await asyncio.to_thread(probe.subscribe, f"{ROOT}/#")
        first = Agent(config)
        await first.start()
        try:
            await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1", 10, lambda s: s["status"] == "ready")
            long_file = await http_upload(first, write_gcode(tmp_path / "long.gcode", moves(5000)))
            next_file = await http_upload(first, write_gcode(tmp_path / "next.gcode", moves(20)))
            running = await request(probe, "print", {"file_id": long_file["id"], "confirm_bed_clear": True}, 1)
            queued = await request(probe, "print", {"file_id": next_file["id"], "confirm_bed_clear": True}, 2)
            assert running["data"]["started"] and not queued["data"]["started"]
            await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1/event/progress", 10)
        finally:
            await first.stop()

        second = Agent(config)
        await second.start()
        try:
            await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1", 10,
                                    lambda s: s["status"] == "ready" and s["waiting_for_bed_clear"])
            history = await request(probe, "history", {}, 3)
            [record] = history["data"]["jobs"]
            assert record["id"] == running["data"]["job"]["id"] and record["outcome"] == "interrupted"
            assert record["lines_sent"] > 0 and record["ended"]
            queue = await request(probe, "queue", {}, 4)
            assert queue["data"]["running"] is None
            assert [j["id"] for j in queue["data"]["jobs"]] == [queued["data"]["job"]["id"]]
            executed = len(sim.executed)
            await asyncio.sleep(0.5)
            assert len(sim.executed) == executed  # nothing started on its own
        finally:
            await second.stop()
    finally:
        probe.close()
        await sim.close()


async def test_classroomd_print_exits_1_when_the_job_fails(
        classroom: tuple[Agent, Probe, MarlinSimulator], tmp_path: Path, mosquitto: Mosquitto) -> None:
    agent, _probe, sim = classroom
    sim.profile.motion_scale = 0.05
    path = write_gcode(tmp_path / "doomed.gcode", moves(3000))
    command = [sys.executable, "-m", "classroomd", "print", str(path), "--printer", "printer-1", "--wait",
               "--bed-clear", "--broker", mosquitto.url, "--state-dir", str(agent.state_dir)]
    proc = asyncio.create_task(asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60))
    while len(sim.executed) < 300 and not proc.done():
        await asyncio.sleep(0.05)
    sim.thermal_runaway()
    done = await proc
    assert done.returncode == 1, done.stdout + done.stderr
    assert ": failed (the printer reported: Thermal Runaway" in done.stdout
