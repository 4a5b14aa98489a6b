from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from classroomd.simulators.panel_smart import SmartPanelSim, SmartPanelState
from tests.panel.support import Server, WebHost


@pytest.fixture
async def sim() -> AsyncIterator[SmartPanelSim]:
    panel = await SmartPanelSim(SmartPanelState(power="standby", input="hdmi2")).start()
    yield panel
    await panel.close()


@pytest.fixture
def host(tmp_path: Path) -> WebHost:
    return WebHost(tmp_path / "state")


@pytest.fixture
async def server(host: WebHost) -> AsyncIterator[Server]:
    running = await Server(host).start()
    yield running
    await running.stop()
