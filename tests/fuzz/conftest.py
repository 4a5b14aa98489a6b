"""The fuzz suites' shared parts: hypothesis profiles, and one demo classroom per module.

Profiles (`CLASSROOMD_FUZZ=ci|deep`, default `ci`): `ci` is bounded and derandomized (a fixed seed, no
example database), so a CI run tries the same inputs every time and takes a few minutes in all;
`deep` tries twenty times as many, random, for a developer hunting.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from classroomd.daemon.agent import Agent
from classroomd.daemon.demo import start_simulators, stop_simulators
from classroomd.simulators.base import DemoDevice
from tests.foundation.conftest import agent_config
from tests.support.mosquitto import Mosquitto

T = TypeVar("T")

#: Examples per property in CI; each suite's own figure is a multiple of it (README, "Reliability").
CI_EXAMPLES = 40
_COMMON: dict[str, Any] = {
    "deadline": None,  # a real daemon answers in milliseconds, but a loaded CI machine stalls now and then
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                              HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, database=None, print_blob=True,
                          **_COMMON)
settings.register_profile("deep", max_examples=CI_EXAMPLES * 20, **_COMMON)
settings.load_profile(os.environ.get("CLASSROOMD_FUZZ", "ci"))

ROOT = "classroom/kz-test-01/biology"


class LogTrap(logging.Handler):
    """Keeps every record that carries a traceback or is an error: a fuzz run must leave none."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)

    def thread_died(self, args: threading.ExceptHookArgs) -> None:
        """A device's worker thread that dies takes no log line with it: count it as one."""
        thread = args.thread.name if args.thread is not None else "?"
        self.records.append(logging.LogRecord("thread", logging.ERROR, __file__, 0, "thread %s died: %s: %s",
                                              (thread, args.exc_type.__name__, args.exc_value), None))

    def report(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" + (f" ({r.exc_info[1]!r})" if r.exc_info else "")
                for r in self.records]


@dataclass
class Classroom:
    """The demo classroom (every kind's simulator, opened by its real device class) and an agent on a
    real Mosquitto, run on an event loop of their own thread so hypothesis drives it from plain tests."""

    workdir: Path
    mosquitto: Mosquitto = field(init=False)
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    agent: Agent | None = None
    sims: list[DemoDevice] = field(default_factory=list)
    trap: LogTrap = field(default_factory=LogTrap)
    _thread: threading.Thread | None = None
    _excepthook: Any = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def start(self) -> None:
        self.mosquitto = Mosquitto(self.workdir / "mosquitto")
        self.mosquitto.start()
        logging.getLogger().addHandler(self.trap)
        self._excepthook = threading.excepthook
        threading.excepthook = self.trap.thread_died
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-classroom", daemon=True)
        self._thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        self.sims = await start_simulators(self.workdir / "sims", skip_kinds=set())
        self.agent = Agent(agent_config(self.workdir, self.mosquitto.url),
                           demo_devices=[s.config for s in self.sims])
        await self.agent.start()
        assert await self.agent.wait_connected(10), "the agent did not connect"
        # Fuzzing starts from every device opened, so "undisturbed" has a baseline to compare with.
        for _ in range(300):
            if all(str(d.status) == "ready" for d in self.agent.all_devices()):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"demo devices not ready: {[(d.id, str(d.status)) for d in self.agent.all_devices()]}")

    @property
    def devices(self) -> dict[str, str]:
        """Device id -> kind, of the demo devices."""
        return {s.config.id: str(s.config.kind) for s in self.sims}

    def statuses(self) -> dict[str, str]:
        async def read() -> dict[str, str]:
            assert self.agent is not None
            return {d.id: str(d.status) for d in self.agent.all_devices()}
        return self.run(read())

    def stop(self) -> None:
        try:
            if self.agent is not None:
                self.run(self.agent.stop())
            self.run(stop_simulators(self.sims))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self.loop.close()
            logging.getLogger().removeHandler(self.trap)
            threading.excepthook = self._excepthook
            self.mosquitto.stop()


@pytest.fixture(scope="module")
def classroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Classroom]:
    room = Classroom(tmp_path_factory.mktemp("classroom"))
    room.start()
    try:
        yield room
    finally:
        room.stop()
