"""Samsung MDC with "Secured Protocol" on TCP 1515 (issue #19, item 5).

The simulator greets with MDCSTART<<TLS>>, runs a real TLS handshake with a throw-away
self-signed certificate, and checks the PIN, as such a display does.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from classroomd.config.schema import DeviceConfig
from classroomd.devices.base import RequestError, Status
from classroomd.devices.panel import PanelDevice
from classroomd.simulators.panel_family import FamilySim
from tests.panel.support import WebHost

PIN = "4321"


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    folder = tmp_path_factory.mktemp("mdc-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=display",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
async def secured(server_tls: ssl.SSLContext) -> AsyncIterator[FamilySim]:
    sim = await FamilySim.of("samsung-mdc", secured_pin=PIN, tls_context=server_tls).start()
    yield sim
    await sim.close()


@pytest.fixture
async def open_panel(host: WebHost) -> AsyncIterator[Callable[..., Any]]:
    opened: list[PanelDevice] = []

    async def make(sim: FamilySim, **extra: Any) -> PanelDevice:
        panel = PanelDevice.from_config(DeviceConfig.model_validate({
            "id": "panel-1", "kind": "panel", "name": "Front panel", "host": "127.0.0.1", "tcp_port": sim.port,
            "profile": "samsung-mdc", "poll_s": 0.2, **extra}))
        await panel.start(host)
        opened.append(panel)
        return panel

    yield make
    for panel in opened:
        await panel.stop()


async def test_without_a_pin_the_fault_says_what_the_panel_wants(secured: FamilySim, host: WebHost,
                                                                 open_panel: Callable[..., Any]) -> None:
    panel = await open_panel(secured)
    assert panel.status is Status.FAULT
    assert "Secured Protocol" in panel.reason
    severity, message = host.alerts[("panel-1", "secured_protocol")]
    assert severity == "warning"
    assert "mdc_pin" in message.en and "Secured Protocol" in message.ru and "PIN" in message.kk
    with pytest.raises(RequestError) as failed:
        await panel.request("power", {"state": "on"})
    assert "MDCSTART<<TLS>>" in failed.value.message


async def test_with_the_pin_it_talks_mdc_inside_tls(secured: FamilySim, host: WebHost,
                                                    open_panel: Callable[..., Any]) -> None:
    panel = await open_panel(secured, mdc_pin=PIN)
    assert panel.status is Status.READY and panel.power == "standby"
    await panel.request("power", {"state": "on"})
    await panel.request("input", {"name": "hdmi1"})
    assert (await panel.request("get", {}))["input"] == "hdmi1"
    assert secured.awake and secured.logins and set(secured.logins) == {PIN.encode()}
    assert ("panel-1", "secured_protocol") not in host.alerts


async def test_a_wrong_pin_is_tried_once_not_until_the_panel_blocks(secured: FamilySim, host: WebHost,
                                                                    open_panel: Callable[..., Any]) -> None:
    panel = await open_panel(secured, mdc_pin="0000")
    await asyncio.sleep(0.7)  # several polls
    assert panel.status is Status.FAULT and "wrong PIN" in panel.reason
    assert ("panel-1", "secured_protocol") in host.alerts
    assert secured.logins == [b"0000"]
