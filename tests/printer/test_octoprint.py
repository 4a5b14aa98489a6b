"""A printer behind a real OctoPrint (from PyPI, with its virtual printer): the serial printer's contract."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.core.retry import RetryPolicy
from classroomd.daemon.supervisor import Supervisor
from classroomd.devices.base import DeviceInfo, Kind, RequestError, Status
from classroomd.devices.printer import PrinterDevice
from classroomd.devices.printer_octoprint import OctoPrintPrinter
from tests.printer.octoprint_server import OctoPrintServer, octoprint
from tests.printer.support import moves
from tests.printer.test_device import finished, upload
from tests.support.host import RecordingHost


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrintServer]:
    with octoprint(tmp_path_factory.mktemp("octoprint")) as running:
        yield running


def network_config(server: OctoPrintServer, **extra: Any) -> DeviceConfig:
    options = {"transport": "octoprint", "url": server.url, "api_key": server.api_key, "poll_s": 0.2,
               "progress_interval_s": 0.1, **extra}
    return DeviceConfig(id="printer-net", kind="printer", name="OctoPrint", **options)


@pytest.fixture
async def printer(server: OctoPrintServer, host: RecordingHost) -> AsyncIterator[OctoPrintPrinter]:
    device = PrinterDevice.from_config(network_config(server))
    assert isinstance(device, OctoPrintPrinter)
    await device.start(host)
    yield device
    await device.stop()


async def server_state(server: OctoPrintServer) -> str:
    async with (aiohttp.ClientSession(headers={"X-Api-Key": server.api_key}) as http,
                http.get(f"{server.url}/api/job") as response):
        return str((await response.json())["state"])


async def wait_server(server: OctoPrintServer, prefix: str, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not (await server_state(server)).startswith(prefix):
            await asyncio.sleep(0.1)


async def test_a_wrong_api_key_is_a_fault_with_a_readable_reason(server: OctoPrintServer,
                                                                 host: RecordingHost) -> None:
    device = PrinterDevice.from_config(network_config(server, api_key="NOT-THE-KEY"))
    supervisor = Supervisor(host, RetryPolicy(0.05, 0.5))
    supervisor.start(device)
    try:
        await host.wait_for(lambda: device.status is Status.FAULT, 15)
        assert "refused the API key" in device.reason and "api_key" in device.reason
    finally:
        await supervisor.stop(device)


async def test_upload_print_pause_resume_cancel_and_history_through_octoprint(
        server: OctoPrintServer, printer: OctoPrintPrinter, host: RecordingHost, tmp_path: Path) -> None:
    state = printer.snapshot()
    assert state["status"] == "ready" and state["firmware"].startswith("OctoPrint")
    long_id = await upload(host, tmp_path, ["G1 F60000", *moves(3000)], name="long.gcode")
    with pytest.raises(RequestError) as refused:
        await printer.request("print", {"file_id": long_id})
    assert refused.value.code == "bed_clear_not_confirmed"

    reply = await printer.request("print", {"file_id": long_id, "confirm_bed_clear": True})
    job = reply["job"]
    assert reply["started"] and job["print_from"] == "octoprint" and job["lesson_id"] == "lesson-7"
    await wait_server(server, "Printing")
    await host.wait_for(lambda: bool(host.named("progress")), 20)
    await printer.request("pause", {})
    await wait_server(server, "Paused")
    assert printer.snapshot()["paused"] is True and host.named("job_paused")
    await printer.request("resume", {})
    await wait_server(server, "Printing")
    await printer.request("cancel", {})
    await finished(host, 1, 30)
    [cancelled] = host.named("job_cancelled")
    assert cancelled.data["job"]["outcome"] == "cancelled" and cancelled.data["job"]["printer_file"]

    short_id = await upload(host, tmp_path, ["G1 F60000", *moves(30)], name="short.gcode")
    await printer.request("print", {"file_id": short_id, "confirm_bed_clear": True})
    await finished(host, 2, 60)
    [done] = host.named("job_finished")
    assert done.data["job"]["outcome"] == "finished" and done.data["job"]["progress"] == 100.0
    history = await printer.request("history", {})
    assert [(j["file_name"], j["outcome"]) for j in history["jobs"]] == [
        ("short.gcode", "finished"), ("long.gcode", "cancelled")]
    assert printer.snapshot()["status"] == "ready"



async def test_a_daemon_restart_reattaches_and_a_print_that_ended_unwatched_is_settled_from_octoprint(
        server: OctoPrintServer, host: RecordingHost, tmp_path: Path) -> None:
    device = PrinterDevice.from_config(network_config(server))
    await device.start(host)
    try:
        file_id = await upload(host, tmp_path, ["G1 F60000", *moves(200)], name="gear.gcode")
        gear = (await device.request("print", {"file_id": file_id, "confirm_bed_clear": True}))["job"]
        await wait_server(server, "Printing")
        await device.stop()  # the daemon goes away mid-print; OctoPrint goes on
        await device.start(host)
        assert [e.data["job"]["id"] for e in host.named("job_reattached")] == [gear["id"]]
        await finished(host, 1, 30)

        file_id = await upload(host, tmp_path, ["G1 F60000", *moves(40)], name="nut.gcode")
        nut = (await device.request("print", {"file_id": file_id, "confirm_bed_clear": True}))["job"]
        await wait_server(server, "Printing")
        await device.stop()
        await wait_server(server, "Operational", 30)  # it ends while nobody watches
        await device.start(host)
        ended = {e.data["job"]["id"]: e.data["job"]["outcome"] for e in host.named("job_finished")}
        assert ended == {gear["id"]: "finished", nut["id"]: "finished"}
        assert len(host.named("job_reattached")) == 1 and not host.named("job_failed")
        history = await device.request("history", {})
        assert [j["file_name"] for j in history["jobs"]] == ["nut.gcode", "gear.gcode"]
    finally:
        await device.stop()


async def test_a_discovered_octoprint_is_driven_once_its_key_is_configured(server: OctoPrintServer,
                                                                         host: RecordingHost) -> None:
    found = DeviceInfo(id="printer-net-octoprint-octopi", kind=Kind.PRINTER, name="octopi", vendor="OctoPrint",
                       transport="network", paths=[server.url], matched_by="mDNS _octoprint._tcp")
    bare = PrinterDevice.from_config(DeviceConfig(id=found.id, kind="printer", source=server.url), found)
    with pytest.raises(RuntimeError, match="transport = \"octoprint\" and api_key"):
        await bare.start(host)
    await bare.stop()
    keyed = PrinterDevice.from_config(
        DeviceConfig(id=found.id, kind="printer", transport="octoprint", api_key=server.api_key), found)
    try:
        await keyed.start(host)  # the address comes from discovery
        assert keyed.status is Status.READY
    finally:
        await keyed.stop()
