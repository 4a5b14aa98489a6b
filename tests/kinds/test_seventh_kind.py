"""A kind the project does not ship, added by one module (tests/kinds/data_logger.py) and nothing else:
found by discovery's catalog, opened by the daemon, published over MQTT, in the demo and in the AsyncAPI."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from classroomd.core.vocabulary import Kind
from classroomd.daemon.agent import Agent
from classroomd.daemon.asyncapi import document
from classroomd.daemon.catalog import Catalog
from classroomd.daemon.classify import classify
from classroomd.daemon.config_file import parse
from classroomd.daemon.demo import start_simulators, stop_simulators
from classroomd.devices import device_class
from classroomd.devices.base import DeviceInfo
from classroomd.devices.kinds import unregister
from classroomd.drivers.udev_monitor import Candidate, Node, UsbInfo
from tests.foundation.conftest import agent_config
from tests.support.mosquitto import Mosquitto
from tests.support.probe import Probe

MODULE = "tests.kinds.data_logger"
ROOT = "classroom/kz-test-01/biology"


@pytest.fixture
def logger_kind() -> Iterator[ModuleType]:
    """The kind exists only while a test runs: imported here, forgotten after."""
    module = importlib.import_module(MODULE)
    try:
        yield module
    finally:
        unregister("data_logger")
        sys.modules.pop(MODULE, None)


def test_the_kind_is_unknown_until_its_module_is_imported() -> None:
    assert "data_logger" not in [str(k) for k in Kind.all()]
    with pytest.raises(ValueError, match="not a device kind"):
        Kind("data_logger")


def test_discovery_finds_it_by_its_own_catalog_rule(logger_kind: ModuleType) -> None:
    usb = UsbInfo("/sys/devices/usb1/1-3", "1-3", logger_kind.VID, logger_kind.PID, "LG0042", "Test Lab",
                  "T-probe", "02")
    tty = Node("tty", "/sys/devices/usb1/1-3/tty/ttyACM3", "ttyACM3", "/dev/ttyACM3", {})
    found = classify(Candidate(usb.sys_path, "usb", usb, [tty]), Catalog.load())
    assert isinstance(found, DeviceInfo)
    assert found.kind is Kind("data_logger") and found.id == "data-logger-16d0-0f1e-lg0042"
    assert "test-data-logger" in found.matched_by and found.paths[0] == "/dev/ttyACM3"


def test_the_config_accepts_it_and_the_asyncapi_lists_its_actions(logger_kind: ModuleType) -> None:
    config = parse('site = "s"\nroom = "r"\n[[devices]]\nid = "logger-1"\nkind = "data_logger"\nport = "/dev/x"\n')
    assert config.devices[0].kind is Kind("data_logger")
    assert device_class("data_logger") is logger_kind.DataLoggerDevice
    actions = json.dumps(document())
    assert "data_logger" in actions and "The latest temperature reading." in actions


async def test_the_daemon_drives_and_publishes_it_and_the_demo_simulates_it(
        logger_kind: ModuleType, tmp_path: Path, mosquitto: Mosquitto) -> None:
    sims = await start_simulators(tmp_path / "sims", skip_kinds={"panel", "microscope", "tablet", "touch_table",
                                                                  "globe", "printer"})
    assert [s.config.id for s in sims] == ["logger-1"]
    agent = Agent(agent_config(tmp_path, mosquitto.url), demo_devices=[s.config for s in sims])
    probe = Probe(mosquitto.port).connect()
    await asyncio.to_thread(probe.subscribe, f"{ROOT}/#")
    await agent.start()
    try:
        state = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/logger-1", 10,
                                        lambda s: s.get("celsius") == 21.5)
        assert state["kind"] == "data_logger" and state["availability"] == "online"
        inventory = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/devices", 10,
                                            lambda inv: any(d["id"] == "logger-1" for d in inv))
        assert [d["kind"] for d in inventory if d["id"] == "logger-1"] == ["data_logger"]
        probe.publish(f"{ROOT}/logger-1/request/sample", json.dumps({"transaction": 7}))
        reply = await asyncio.to_thread(probe.wait_topic, f"{ROOT}/logger-1/response/sample", 10)
        assert reply == {"status": "ok", "transaction": 7, "data": {"celsius": 21.5}}
    finally:
        probe.close()
        await agent.stop()
        await stop_simulators(sims)
