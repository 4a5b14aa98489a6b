"""The HTTP API with a real aiohttp client, and `classroomd devices` against a running agent."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import aiohttp
from aiohttp import web

from classroomd.web.context import require_token
from tests.foundation.lamp import Lamp
from tests.support.mosquitto import Mosquitto


async def test_healthz_and_inventory(mosquitto: Mosquitto, make_agent: Any) -> None:
    agent = await make_agent(mosquitto.url)
    lamp = Lamp("lamp-1")
    agent.registry.add(lamp)
    agent.supervisor.start(lamp)
    await asyncio.sleep(0.1)
    async with aiohttp.ClientSession(agent.http_base) as http:
        async with http.get("/healthz") as resp:
            assert resp.status == 200
            assert (await resp.json()) == {"status": "ok", "devices": 1}
        async with http.get("/api/v1/devices") as resp:
            devices = await resp.json()
            assert [d["id"] for d in devices] == ["lamp-1"] and devices[0]["level"] == 0
        async with http.get("/api/v1/devices/lamp-1") as resp:
            body = await resp.json()
            assert body["describe"]["actions"]["set"]["args"]["required"] == ["level"]
        async with http.get("/api/v1/devices/nope") as resp:
            assert resp.status == 404
        async with http.get("/devices/lamp-1/nothing") as resp:
            assert resp.status == 404


async def test_token_is_generated_once_and_guards_changes(mosquitto: Mosquitto, make_agent: Any) -> None:
    agent = await make_agent(mosquitto.url)
    token_file = agent.state_dir / "token"
    assert token_file.stat().st_mode & 0o077 == 0, "the token must be readable by the daemon's user only"
    assert token_file.read_text().strip() == agent.token

    async def change(request: web.Request) -> web.Response:
        require_token(request)
        return web.json_response({"changed": True})

    # a feature endpoint that changes something, mounted the way feature modules are
    from classroomd.web.context import CONTEXT

    app = web.Application()
    app[CONTEXT] = agent
    app.add_routes([web.post("/change", change)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.post("/change") as resp:
                assert resp.status == 401
                assert (await resp.json())["error"]["code"] == "unauthorized"
            async with http.post("/change", headers={"Authorization": "Bearer wrong"}) as resp:
                assert resp.status == 401
            async with http.post("/change", headers={"Authorization": f"Bearer {agent.token}"}) as resp:
                assert resp.status == 200
    finally:
        await runner.cleanup()


async def test_devices_command_reads_the_running_daemon(mosquitto: Mosquitto, make_agent: Any) -> None:
    agent = await make_agent(mosquitto.url)
    lamp = Lamp("lamp-1")
    agent.registry.add(lamp)
    agent.supervisor.start(lamp)
    await asyncio.sleep(0.5)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classroomd", "devices", "--broker", mosquitto.url, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    body = json.loads(out)
    assert body["agent"]["session"] == agent.session and body["agent"]["http"] == agent.http_base
    assert [(d["id"], d["status"]) for d in body["devices"]] == [("lamp-1", "ready")]

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classroomd", "devices", "--broker", mosquitto.url,
        "--site", "kz-test-01", "--room", "biology", stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    table = out.decode().splitlines()
    assert table[1].split() == ["ID", "KIND", "NAME", "AVAILABILITY", "STATUS"]
    assert table[2].split() == ["lamp-1", "panel", "Lamp", "lamp-1", "online", "ready"]


async def test_devices_command_without_a_daemon_says_so(mosquitto: Mosquitto) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classroomd", "devices", "--broker", mosquitto.url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1
    assert "no classroomd announces itself" in err.decode()


async def test_busy_embedded_broker_port_is_a_clear_error(mosquitto: Mosquitto, tmp_path: Any) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n[http]\nlisten = "127.0.0.1:0"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classroomd", "run", "--config", str(config),
        "--broker", f"embedded://127.0.0.1:{mosquitto.port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    message = err.decode()
    assert f"port {mosquitto.port}" in message and "--broker" in message


async def test_busy_http_port_is_a_clear_error(mosquitto: Mosquitto, tmp_path: Any) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classroomd", "run", "--config", str(config), "--broker", mosquitto.url,
        "--http", f"127.0.0.1:{mosquitto.port}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert f"127.0.0.1:{mosquitto.port}" in err.decode() and "--http" in err.decode()
