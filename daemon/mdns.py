"""mDNS: network printers for the inventory, and the agent announcing itself.

OctoPrint, Moonraker (Klipper) and PrusaLink announce themselves on the school LAN; each becomes a
`DeviceInfo` of kind printer, transport network (driving them comes later). The agent announces
`_classroomd._tcp` with site, room, version and HTTP port in TXT so panels and the district
server can find it without configuration.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from classroomd.devices.base import DeviceInfo, Kind

log = logging.getLogger("classroomd.mdns")

#: Service type -> the software that announces it.
PRINTER_SERVICES = {
    "_octoprint._tcp.local.": "OctoPrint",
    "_moonraker._tcp.local.": "Moonraker",
    "_prusa-link._tcp.local.": "PrusaLink",
}
AGENT_SERVICE = "_classroomd._tcp.local."
RESOLVE_TIMEOUT_MS = 3000


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def instance_name(full_name: str, service_type: str) -> str:
    return full_name[: -len(service_type) - 1] if full_name.endswith("." + service_type) else full_name


def network_id(service_type: str, full_name: str) -> str:
    """Stable per announced instance: the instance name is unique on the LAN by mDNS rules."""
    software = _slug(PRINTER_SERVICES.get(service_type, service_type.split(".")[0]))
    return f"printer-net-{software}-{_slug(instance_name(full_name, service_type))}"[:63].rstrip("-")


def _txt(info: AsyncServiceInfo) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (info.properties or {}).items():
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        out[k] = value.decode("utf-8", "replace") if isinstance(value, bytes) else ("" if value is None else str(value))
    return out


def network_printer(service_type: str, full_name: str, info: AsyncServiceInfo) -> DeviceInfo:
    software = PRINTER_SERVICES.get(service_type, service_type)
    txt = _txt(info)
    addresses = info.parsed_scoped_addresses(IPVersion.V4Only) or info.parsed_scoped_addresses()
    host = addresses[0] if addresses else (info.server or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    path = txt.get("path", "/") or "/"
    url = f"http://{host}:{info.port}{path if path.startswith('/') else '/' + path}"
    name = instance_name(full_name, service_type)
    return DeviceInfo(
        id=network_id(service_type, full_name),
        kind=Kind.PRINTER,
        name=name,
        vendor=software,
        model=txt.get("model", "") or txt.get("printer_type", ""),
        transport="network",
        paths=[url],
        matched_by=f"mDNS {service_type.removesuffix('.local.')} {name!r} at {host}:{info.port}",
        options={"service": service_type, "server": (info.server or "").rstrip("."), "port": info.port, "txt": txt},
    )


class NetworkBrowser:
    """Browses the printer services; resolves each and reports it found, or lost when it leaves."""

    def __init__(self, on_found: Callable[[DeviceInfo], None], on_lost: Callable[[str], None],
                 *, zeroconf: AsyncZeroconf | None = None, ip_version: IPVersion = IPVersion.V4Only) -> None:
        self.on_found = on_found
        self.on_lost = on_lost
        self._own = zeroconf is None
        self._zc = zeroconf
        self._ip_version = ip_version
        self._browser: AsyncServiceBrowser | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reported: set[str] = set()

    async def start(self) -> None:
        if self._zc is None:
            self._zc = AsyncZeroconf(ip_version=self._ip_version)
            self._own = True
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, list(PRINTER_SERVICES), handlers=[self._on_change])

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            device_id = network_id(service_type, name)
            if device_id in self._reported:
                self._reported.discard(device_id)
                self.on_lost(device_id)
            return
        task = asyncio.get_running_loop().create_task(self._resolve(service_type, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        assert self._zc is not None
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(self._zc.zeroconf, RESOLVE_TIMEOUT_MS) or not info.port:
            log.info("mDNS %s did not resolve", name)
            return
        device = network_printer(service_type, name, info)
        self._reported.add(device.id)
        self.on_found(device)

    async def stop(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
            self._browser = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._own and self._zc is not None:
            await self._zc.async_close()
            self._zc = None


def local_addresses() -> list[bytes]:
    """IPv4 addresses to announce: the host's, without loopback unless that is all there is."""
    found: set[str] = set()
    try:
        for family, _, _, _, sockaddr in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            if family == socket.AF_INET:
                found.add(str(sockaddr[0]))
    except OSError:
        pass
    # The address the default route would use (no packet is sent by a UDP connect).
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            found.add(probe.getsockname()[0])
    except OSError:
        pass
    usable = sorted(a for a in found if not a.startswith("127."))
    return [socket.inet_aton(a) for a in (usable or ["127.0.0.1"])]


class Announcer:
    """Announces this agent as `_classroomd._tcp` with site, room, version and HTTP port in TXT."""

    def __init__(self, site: str, room: str, version: str, http_port: int, *, http_path: str = "/",
                 addresses: list[bytes] | None = None, zeroconf: AsyncZeroconf | None = None) -> None:
        self.site, self.room, self.version, self.http_port = site, room, version, http_port
        self.addresses = addresses
        self.http_path = http_path
        self._own = zeroconf is None
        self._zc = zeroconf
        self.info: AsyncServiceInfo | None = None
        self._registering: asyncio.Task[None] | None = None
        self.registered = False

    @property
    def instance(self) -> str:
        # Instance names are user-visible labels; dots would split them into more labels.
        return f"classroomd {self.site} {self.room}".replace(".", "-")[:63]

    async def start(self) -> None:
        """Begin announcing; returns at once (mDNS probing takes a second or two in the background)."""
        if self._zc is None:
            self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
            self._own = True
        host = _slug(socket.gethostname()) or "classroomd"
        self.info = AsyncServiceInfo(
            AGENT_SERVICE,
            f"{self.instance}.{AGENT_SERVICE}",
            addresses=self.addresses or local_addresses(),
            port=self.http_port,
            properties={"site": self.site, "room": self.room, "version": self.version,
                        "http_port": str(self.http_port), "path": self.http_path},
            server=f"{host}-classroomd.local.",
        )
        self._registering = asyncio.get_running_loop().create_task(self._register(self._zc, self.info))

    async def _register(self, zc: AsyncZeroconf, info: AsyncServiceInfo) -> None:
        try:
            # Two agents with the same site/room would be a config mistake; zeroconf renames the second.
            announced = await zc.async_register_service(info, allow_name_change=True)
            await announced
            self.registered = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no network yet: the daemon works without being announced
            log.warning("cannot announce %s over mDNS: %s", info.name, exc)

    async def wait_registered(self) -> bool:
        if self._registering is not None:
            await asyncio.shield(self._registering)
        return self.registered

    async def stop(self) -> None:
        task, self._registering = self._registering, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._zc is not None and self.info is not None and self.registered:
            try:
                await self._zc.async_unregister_service(self.info)
            except Exception as exc:  # the network may already be gone at shutdown
                log.debug("mDNS unregister: %s", exc)
        if self._own and self._zc is not None:
            await self._zc.async_close()
        self.registered = False
        self._zc = None
        self.info = None
