from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import Status
from classroomd.devices.microscope import MicroscopeDevice
from tests.microscope.videos import write_mjpg
from tests.support.host import RecordingHost


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_mjpg(tmp_path / "known.avi", frames=30, width=320, height=240, fps=30)


@pytest.fixture
def host(tmp_path: Path) -> RecordingHost:
    return RecordingHost(tmp_path / "state")


def scope_config(source: str, **extra: Any) -> DeviceConfig:
    return DeviceConfig.model_validate({"id": "scope-1", "kind": "microscope", "name": "Test scope",
                                        "source": source, "stall_s": 1.0, "reopen_max_s": 0.5, **extra})


@pytest.fixture
async def make_scope(host: RecordingHost) -> AsyncIterator[Callable[..., Any]]:
    started: list[MicroscopeDevice] = []

    async def make(source: str | Path, wait_ready: bool = True, **extra: Any) -> MicroscopeDevice:
        uri = source.resolve().as_uri() if isinstance(source, Path) else source
        scope = MicroscopeDevice.from_config(scope_config(uri, **extra))
        host.devices[scope.id] = scope
        await scope.start(host)
        started.append(scope)
        if wait_ready:
            await host.wait_for(lambda: scope.status is Status.READY, 10)
        return scope

    yield make
    for scope in started:
        await scope.stop()
