"""Central in the test's event loop, with an HTTP client and polling helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from classroomd.central.config import CentralConfig
from classroomd.central.service import serve
from tests.support.mosquitto import free_port, wait_port

T = TypeVar("T")

#: Fast timings so the scenarios run in seconds; the rules are the same as with the defaults.
FAST = {"offline_alert_s": 2.5, "device_alert_s": 1.5, "clear_after_s": 0.3, "gap_hold_s": 1.0,
        "rules_interval_s": 0.1, "batch_ms": 10, "keepalive_s": 5}


async def wait_for(probe: Callable[[], Awaitable[T | None]], timeout: float = 10.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last: {last!r}")


@dataclass
class Central:
    broker: str
    db: str
    state_dir: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None
    http: aiohttp.ClientSession | None = None

    @property
    def cfg(self) -> CentralConfig:
        return CentralConfig.model_validate({
            "db": self.db, "broker": self.broker, "http": f"127.0.0.1:{self.port}",
            "state_dir": str(self.state_dir), "client_id": f"central-test-{self.port}", **FAST, **self.overrides})

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.state_dir / "token").read_text().strip()

    async def start(self) -> None:
        self.port = self.port or free_port()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(serve(self.cfg, self._stop))
        await asyncio.to_thread(wait_port, self.port, 20)
        if self.http is None:
            self.http = aiohttp.ClientSession()
        if self.overrides.get("role") != "api":
            await wait_for(self._broker_connected, 10, "central to connect to the broker")

    async def _broker_connected(self) -> bool:
        return bool((await self.get("/healthz")).get("broker") == "connected")

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 15)
            self._task = None

    async def close(self) -> None:
        await self.stop()
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def get(self, path: str) -> Any:
        assert self.http is not None
        async with self.http.get(self.base + path) as response:
            assert response.status == 200, (path, response.status, await response.text())
            return await response.json()

    async def classroom(self, site: str, room: str) -> dict[str, Any] | None:
        for entry in await self.get("/api/v1/classrooms"):
            if entry["site"] == site and entry["room"] == room:
                return dict(entry)
        return None

    async def presence(self, site: str, room: str) -> str | None:
        entry = await self.classroom(site, room)
        return entry["presence"] if entry else None

    async def wait_presence(self, site: str, room: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            entry = await self.classroom(site, room)
            return entry if entry and entry["presence"] == state else None

        return await wait_for(probe, timeout, f"{site}/{room} to be {state}")

    async def counts(self) -> dict[str, int]:
        return dict((await self.get("/healthz"))["counts"])

    async def alerts(self, code: str | None = None, active: bool = False) -> list[dict[str, Any]]:
        found = await self.get("/api/v1/alerts" + ("?active=1" if active else ""))
        return [a for a in found if code is None or a["code"] == code]
