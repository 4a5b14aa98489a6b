"""`classroomd push` against a running agent over a real Mosquitto, and the demo panel."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from aiohttp import ClientSession

from classroomd.daemon.agent import Agent
from classroomd.daemon.cli import build_parser
from classroomd.daemon.cli_push import request_for
from classroomd.devices import device_class
from classroomd.devices.base import Status
from classroomd.simulators.panel import start_demo
from tests.foundation.conftest import agent_config
from tests.panel.support import WebHost
from tests.support.mosquitto import Mosquitto


def test_push_arguments_map_to_requests() -> None:
    parser = build_parser()

    def mapped(*argv: str) -> tuple[str, str, dict[str, object]]:
        return request_for(parser.parse_args(["push", "--panel", "panel-1", *argv]))

    assert mapped("--media", "m1") == ("panel-1", "show", {"media": "m1"})
    assert mapped("--stream", "scope-1") == ("panel-1", "show", {"stream": "scope-1"})
    assert mapped("--clear") == ("panel-1", "show", {"clear": True})
    assert mapped("--card", '{"type": "text"}') == ("panel-1", "show", {"card": {"type": "text"}})
    assert mapped("--capture", "scope-1") == ("agent", "capture_and_show",
                                               {"microscope": "scope-1", "panel": "panel-1"})


async def run_push(mosquitto: Mosquitto, *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "classroomd", "push", "--broker", mosquitto.url, "--panel", "panel-1", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_classroomd_push_shows_on_a_connected_board(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = agent_config(tmp_path, mosquitto.url,
                          devices=[{"id": "panel-1", "kind": "panel", "name": "Display only"}])
    agent = Agent(config)
    await agent.start()
    try:
        assert await agent.wait_connected(10)
        code, _, err = await run_push(mosquitto, "--clear")
        assert code == 1 and "board_not_connected" in err and "step board" in err

        async with ClientSession() as http, http.ws_connect(f"{agent.http_base}/board/ws?panel=panel-1") as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["type"] == "hello"
            push = asyncio.create_task(run_push(mosquitto, "--card", '{"type": "text", "title": "Сәлем"}', "--json"))
            show = await ws.receive_json(timeout=20)
            assert show["type"] == "show" and show["content"]["card"]["title"] == "Сәлем"
            await ws.send_json({"type": "ack", "id": show["id"], "kind": "card"})
            code, out, err = await push
        assert code == 0, err
        assert json.loads(out)["steps"] == [{"step": "board", "done": "shown"}]
        assert agent.board.current("panel-1") == show["content"]
    finally:
        await agent.stop()


async def test_the_demo_panel_comes_up_in_standby(tmp_path: Path) -> None:
    demo = await start_demo(tmp_path / "panel")
    try:
        assert demo.config.id == "panel-1" and demo.config.name == "Demo SMART panel"
        panel = device_class(demo.config.kind).from_config(demo.config)
        host = WebHost(tmp_path / "state")
        await panel.start(host)
        assert panel.status is Status.READY and panel.snapshot()["power"] == "standby"
        assert (await panel.request("power", {"state": "on"}))["power"] == "on"
        await panel.stop()
    finally:
        await demo.close()
