"""mDNS between two processes on this machine: a fake OctoPrint is found; the agent's announcement is seen."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

from classroomd.daemon.mdns import Announcer, NetworkBrowser, network_id
from classroomd.devices.base import DeviceInfo, Kind

FAKE_OCTOPRINT = """
import socket, sys
from zeroconf import Zeroconf, ServiceInfo, IPVersion
name = sys.argv[1]
zc = Zeroconf(ip_version=IPVersion.V4Only)
info = ServiceInfo("_octoprint._tcp.local.", f"{name}._octoprint._tcp.local.",
                   addresses=[socket.inet_aton("127.0.0.1")], port=5000,
                   properties={"path": "/octoprint/", "version": "1.10.2", "model": "Prusa i3 MK3S"},
                   server="octopi-test.local.")
zc.register_service(info)
print("registered", flush=True)
sys.stdin.read()
zc.unregister_service(info)
zc.close()
"""

BROWSE_AGENT = """
import json, sys
from zeroconf import Zeroconf, IPVersion
zc = Zeroconf(ip_version=IPVersion.V4Only)
info = zc.get_service_info("_classroomd._tcp.local.", sys.argv[1] + "._classroomd._tcp.local.", timeout=5000)
print(json.dumps(None if info is None else {
    "port": info.port, "txt": {k.decode(): v.decode() for k, v in info.properties.items()}}))
zc.close()
"""


async def test_a_fake_octoprint_in_another_process_is_found_and_lost() -> None:
    name = f"Biology printer {uuid.uuid4().hex[:6]}"
    found: asyncio.Queue[DeviceInfo] = asyncio.Queue()
    lost: asyncio.Queue[str] = asyncio.Queue()
    browser = NetworkBrowser(found.put_nowait, lost.put_nowait)
    await browser.start()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", FAKE_OCTOPRINT, name,
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 15)).strip() == b"registered"
        while True:
            info = await asyncio.wait_for(found.get(), 15)
            if info.name == name:
                break
        assert info.kind is Kind.PRINTER and info.transport == "network"
        assert info.id == network_id("_octoprint._tcp.local.", f"{name}._octoprint._tcp.local.")
        assert info.id.startswith("printer-net-octoprint-biology-printer-")
        assert info.vendor == "OctoPrint" and info.model == "Prusa i3 MK3S"
        assert info.paths == ["http://127.0.0.1:5000/octoprint/"]
        assert info.matched_by.startswith(f"mDNS _octoprint._tcp {name!r}")
        proc.stdin.close()  # the fake unregisters: a goodbye packet
        while (gone := await asyncio.wait_for(lost.get(), 15)) != info.id:
            pass
        assert gone == info.id
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        await browser.stop()


async def test_the_agent_announces_site_room_version_and_port() -> None:
    room = f"biology-{uuid.uuid4().hex[:6]}"
    announcer = Announcer("kz-kyzylorda-095", room, "0.1.0", 8080)
    await announcer.start()
    try:
        assert await announcer.wait_registered()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", BROWSE_AGENT, announcer.instance,
                                                    stdout=subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        await announcer.stop()
    seen = json.loads(out)
    assert seen is not None, "the announcement was not resolved from another process"
    assert seen["port"] == 8080
    assert seen["txt"]["site"] == "kz-kyzylorda-095"
    assert seen["txt"]["room"] == room
    assert seen["txt"]["version"] == "0.1.0"
    assert seen["txt"]["http_port"] == "8080"


async def test_discover_network_lists_network_printers() -> None:
    name = f"Chemistry printer {uuid.uuid4().hex[:6]}"
    fake = await asyncio.create_subprocess_exec(sys.executable, "-c", FAKE_OCTOPRINT, name,
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert fake.stdout is not None
        assert (await asyncio.wait_for(fake.stdout.readline(), 15)).strip() == b"registered"
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "classroomd", "discover", "--json",
                                                    "--network", "3", stdout=subprocess.PIPE)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        fake.kill()
        await fake.wait()
    devices = {d["name"]: d for d in json.loads(out)["devices"]}
    assert devices[name]["kind"] == "printer" and devices[name]["transport"] == "network"
    assert devices[name]["paths"] == ["http://127.0.0.1:5000/octoprint/"]
