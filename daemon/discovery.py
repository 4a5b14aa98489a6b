"""Discovery: udev enumeration and hot-plug, classification, printer probes and mDNS, combined.

`scan()` is one synchronous pass. `start()` reports every device found to `on_found`, then
watches udev: each burst of uevents (a tablet plug is a dozen within a few milliseconds) is
settled for `settle_s` and answered with a fresh pass, diffed against what is known; ids that are
gone go to `on_lost`, new or changed ones to `on_found`. A device that was removed and came back
within one burst is still reported lost and found again, so its fd is reopened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pyudev

from classroomd.config.schema import Config, DeviceConfig
from classroomd.daemon.catalog import Catalog
from classroomd.daemon.classify import Capabilities, CapabilityReader, Unclassified, classify, read_capabilities
from classroomd.daemon.serial_probe import ProbeResult, probe_m115
from classroomd.devices.base import DeviceInfo, Kind
from classroomd.drivers.udev_monitor import Candidate, UdevMonitor, UEvent, enumerate_candidates

log = logging.getLogger("classroomd.discovery")

Found = Callable[[DeviceInfo], None]
Lost = Callable[[str], None]


@dataclass
class ScanResult:
    devices: list[DeviceInfo] = field(default_factory=list)
    unclassified: list[Unclassified] = field(default_factory=list)

    def get(self, device_id: str) -> DeviceInfo | None:
        return next((d for d in self.devices if d.id == device_id), None)

    def describe(self) -> dict[str, Any]:
        return {
            "devices": [describe_found(d) for d in self.devices],
            "unclassified": [u.describe() for u in self.unclassified],
        }


def describe_found(info: DeviceInfo) -> dict[str, Any]:
    out = info.describe()
    for key in ("status", "reason", "firmware"):
        if key in info.options:
            out[key] = info.options[key]
    if info.options:
        out["options"] = dict(info.options)
    return out


def device_config_for(info: DeviceInfo) -> DeviceConfig:
    """A `[[devices]]`-shaped entry for a discovered device, to open it with its kind's class."""
    port = source = None
    if info.transport == "serial" and info.paths:
        port = info.paths[0]
    elif info.paths:  # a video or event node, or a network printer's URL
        source = info.paths[0]
    baud = info.options.get("baud") if port else None
    return DeviceConfig(id=info.id, kind=info.kind, name=info.name, port=port, source=source,
                        baud=baud if isinstance(baud, int) else None)


class _CapabilityCache:
    """Event-node capabilities per (node, device number): re-read only for a new node."""

    def __init__(self, reader: CapabilityReader) -> None:
        self.reader = reader
        self._cache: dict[str, Capabilities | str] = {}

    def __call__(self, path: str) -> Capabilities | str:
        got = self._cache.get(path)
        if got is None:
            got = self.reader(path)
            if isinstance(got, Capabilities):  # errors (permissions) are retried next pass
                self._cache[path] = got
        return got

    def forget(self, path: str | None) -> None:
        if path is not None:
            self._cache.pop(path, None)


class Discovery:
    def __init__(
        self,
        catalog: Catalog,
        config: Config | None,
        on_found: Found,
        on_lost: Lost,
        *,
        probe: bool = True,
        probe_declared: bool = False,
        network: bool = False,
        settle_s: float = 0.1,
        probe_timeout_s: float = 4.0,
        context: pyudev.Context | None = None,
        read_caps: CapabilityReader = read_capabilities,
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.on_found = on_found
        self.on_lost = on_lost
        self.probe_enabled = probe
        #: Probe printers the config declares too (the `discover` command); the daemon leaves them
        #: to their device class, which would otherwise reset the board twice.
        self.probe_declared = probe_declared
        self.network = network
        self.settle_s = settle_s
        self.probe_timeout_s = probe_timeout_s
        self.context = context or pyudev.Context()
        self._caps = _CapabilityCache(read_caps)
        self._known: dict[str, DeviceInfo] = {}
        self._keys: dict[str, set[str]] = {}  # device id -> sys paths of its candidate and nodes
        self._probed: dict[tuple[str, str], ProbeResult] = {}
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._removed: set[str] = set()
        self._pending: asyncio.TimerHandle | None = None
        self._monitor: UdevMonitor | None = None
        self._network: Any = None
        self._last_candidates: dict[str, Candidate] = {}
        self.last_result = ScanResult()

    # --- one pass ---------------------------------------------------------------------------
    def scan(self) -> ScanResult:
        """Enumerate and classify once (no probes, no callbacks)."""
        result = ScanResult()
        self._last_candidates = {}
        for cand in enumerate_candidates(self.context):
            try:
                got = classify(cand, self.catalog, self.config, self._caps)
            except Exception as exc:  # a node vanishing mid-classification must not end the pass
                log.warning("cannot classify %s: %s", cand.key, exc)
                continue
            if isinstance(got, Unclassified):
                result.unclassified.append(got)
            else:
                if result.get(got.id) is not None:
                    log.warning("two devices claim id %s; keeping the first (%s)", got.id, cand.key)
                    continue
                result.devices.append(got)
                self._last_candidates[got.id] = cand
        self.last_result = result
        return result

    def needs_probe(self, info: DeviceInfo) -> bool:
        if not self.probe_enabled or info.kind is not Kind.PRINTER or info.transport != "serial":
            return False
        if info.options.get("probe") == "m115":
            return True
        return self.probe_declared and info.matched_by.startswith("config entry")

    async def probe(self, info: DeviceInfo) -> DeviceInfo:
        """The info completed by an M115 probe of its port: firmware, or status `unidentified`."""
        if not info.paths or not self.needs_probe(info):
            return info
        port = info.paths[0]
        cached = self._probed.get((info.id, port))
        if cached is None:
            baud = info.options.get("baud", 115200)
            cached = await probe_m115(port, baud if isinstance(baud, int) else 115200, self.probe_timeout_s)
            if cached.identified or not cached.permission_denied:
                self._probed[(info.id, port)] = cached
        return apply_probe(info, cached)

    async def scan_and_probe(self) -> ScanResult:
        result = self.scan()
        result.devices = list(await asyncio.gather(*(self.probe(d) for d in result.devices)))
        self.last_result = result
        return result

    # --- hot-plug ---------------------------------------------------------------------------
    @property
    def devices(self) -> dict[str, DeviceInfo]:
        return dict(self._known)

    async def start(self) -> None:
        monitor = UdevMonitor(self._on_uevent, self.context)
        try:
            monitor.start()
            self._monitor = monitor
        except OSError as exc:
            # No netlink uevents (some containers): devices present now are still found.
            log.warning("udev monitor unavailable, no hot-plug: %s", exc)
        self.rescan()
        if self.network:
            from classroomd.daemon.mdns import NetworkBrowser

            self._network = NetworkBrowser(self._found_network, self._lost_network)
            await self._network.start()

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        tasks = list(self._probes.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._probes.clear()
        if self._network is not None:
            await self._network.stop()
            self._network = None

    def _on_uevent(self, event: UEvent) -> None:
        if event.action == "remove":
            self._removed.add(event.sys_path)
            self._caps.forget(event.devnode)
        elif event.action == "add":
            self._caps.forget(event.devnode)
        if self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(self.settle_s, self.rescan)

    def rescan(self) -> None:
        """Look again now and report the differences (also what a uevent burst triggers)."""
        if self._pending is not None:
            self._pending.cancel()
        self._pending = None
        removed, self._removed = self._removed, set()
        try:
            result = self.scan()
        except Exception:
            log.exception("discovery pass failed")
            return
        current = {d.id: d for d in result.devices}
        for device_id in list(self._known):
            gone = device_id not in current
            replugged = not gone and bool(self._keys.get(device_id, set()) & removed)
            if gone or replugged:
                self._lose(device_id)
        for device_id, info in current.items():
            cand = self._last_candidates.get(device_id)
            self._keys[device_id] = ({cand.key} | {n.sys_path for n in cand.nodes}) if cand else set()
            known = self._known.get(device_id)
            if known is not None and _same(known, info):
                continue
            if device_id in self._probes:
                continue
            if self.needs_probe(info):
                self._probes[device_id] = asyncio.create_task(self._probe_then_report(info),
                                                              name=f"probe-{device_id}")
            else:
                self._report(info)

    async def _probe_then_report(self, info: DeviceInfo) -> None:
        try:
            probed = await self.probe(info)
        finally:
            self._probes.pop(info.id, None)
        if info.id in self.last_result_ids():
            self._report(probed)

    def last_result_ids(self) -> set[str]:
        return {d.id for d in self.last_result.devices}

    def _report(self, info: DeviceInfo) -> None:
        self._known[info.id] = info
        log.info("found %s %s (%s): %s", info.kind, info.id, ", ".join(info.paths), info.matched_by,
                 extra={"device": info.id})
        try:
            self.on_found(info)
        except Exception:
            log.exception("on_found failed", extra={"device": info.id})

    def _lose(self, device_id: str) -> None:
        task = self._probes.pop(device_id, None)
        if task is not None:
            task.cancel()
        self._probed = {k: v for k, v in self._probed.items() if k[0] != device_id}
        if self._known.pop(device_id, None) is None:
            return
        self._keys.pop(device_id, None)
        log.info("lost %s", device_id, extra={"device": device_id})
        try:
            self.on_lost(device_id)
        except Exception:
            log.exception("on_lost failed", extra={"device": device_id})

    def _found_network(self, info: DeviceInfo) -> None:
        self._report(info)

    def _lost_network(self, device_id: str) -> None:
        self._lose(device_id)


def _same(a: DeviceInfo, b: DeviceInfo) -> bool:
    """Equal as far as the daemon cares (a probe's additions do not count as a change)."""
    strip = ("firmware", "firmware_caps", "status", "reason", "probe_answer")
    oa = {k: v for k, v in a.options.items() if k not in strip}
    ob = {k: v for k, v in b.options.items() if k not in strip}
    return (a.kind, a.paths, a.name, oa) == (b.kind, b.paths, b.name, ob)


def apply_probe(info: DeviceInfo, probe: ProbeResult) -> DeviceInfo:
    out = replace(info, options=dict(info.options))
    out.matched_by = f"{info.matched_by}; {probe.explain()}" if info.matched_by else probe.explain()
    if probe.identified:
        out.options["firmware"] = probe.firmware
        if probe.fields.get("MACHINE_TYPE") and not out.model:
            out.model = probe.fields["MACHINE_TYPE"]
        if probe.capabilities:
            out.options["firmware_caps"] = dict(probe.capabilities)
    elif probe.permission_denied:
        out.options["status"] = "fault"
        out.options["reason"] = probe.reason
    else:
        out.options["status"] = "unidentified"
        out.options["reason"] = probe.reason
    if probe.answer:
        out.options["probe_answer"] = list(probe.answer)
    return out
