from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from classroomd.config.schema import Config
from classroomd.daemon.agent import Agent
from tests.support.mosquitto import Mosquitto


def agent_config(tmp_path: Path, url: str, **over: Any) -> Config:
    data: dict[str, Any] = {
        "site": "kz-test-01",
        "room": "biology",
        "mqtt": {"url": url, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        # The bus contract is tested without the host's real devices or multicast.
        "agent": {"state_dir": str(tmp_path / "state"), "health_interval_s": 30, "discovery": False, "mdns": False},
        "outbox": {"reconnect_jitter_s": 0, "drain_rate_per_s": 0},
        "http": {"listen": "127.0.0.1:0"},
    }
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return Config.model_validate(data)


@pytest.fixture
async def make_agent(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    agents: list[Agent] = []

    async def make(url: str, **over: Any) -> Agent:
        agent = Agent(agent_config(tmp_path, url, **over))
        await agent.start()
        agents.append(agent)
        assert await agent.wait_connected(10), "agent did not connect"
        return agent

    yield make
    for agent in agents:
        await agent.stop()


@pytest.fixture
def root() -> str:
    return "classroom/kz-test-01/biology"


__all__ = ["Mosquitto", "agent_config"]
