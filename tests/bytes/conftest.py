"""Two real Mosquitto processes, the school's and the district's, with a cuttable link between."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.daemon.agent import Agent
from classroomd.daemon.demo import start_simulators, stop_simulators
from classroomd.simulators.base import DemoDevice
from tests.foundation.conftest import agent_config
from tests.support.link_proxy import LinkProxy
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe

ROOT = "classroom/kz-test-01/biology"


@pytest.fixture
def school(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "school")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def district(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "district")
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def link(district: Mosquitto) -> AsyncIterator[LinkProxy]:
    relay = LinkProxy(district.port)
    await relay.start()
    yield relay
    await relay.cut()


def listen(port: int, topic: str = "#") -> Probe:
    probe = Probe(port).connect()
    probe.subscribe(topic)
    return probe


@contextlib.asynccontextmanager
async def demo_devices(workdir: Path, skip: set[str]) -> AsyncIterator[list[DemoDevice]]:
    """The demo classroom's simulators (without the kinds in `skip`), stopped afterwards."""
    sims = await start_simulators(workdir, skip)
    try:
        yield sims
    finally:
        await stop_simulators(sims)


@pytest.fixture
async def classroom(tmp_path: Path) -> AsyncIterator[Any]:
    """An agent on the school's broker, with an `[uplink]` through `link` when given."""
    agents: list[Agent] = []

    async def make(school_url: str, devices: list[DeviceConfig], uplink_url: str | None = None,
                   **uplink: Any) -> Agent:
        over: dict[str, Any] = {}
        if uplink_url is not None:
            over["uplink"] = {"url": uplink_url, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5,
                              "reconnect_jitter_s": 0, "drain_rate_per_s": 0, "health_interval_s": 1,
                              "first_connect_jitter_s": 0,
                              **uplink}
        agent = Agent(agent_config(tmp_path, school_url, **over), demo_devices=devices)
        await agent.start()
        agents.append(agent)
        assert await agent.wait_connected(10), "agent did not connect to the school's broker"
        return agent

    yield make
    for agent in agents:
        await agent.stop()
