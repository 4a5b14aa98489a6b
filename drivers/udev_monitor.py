"""udev enumeration and hot-plug on the asyncio loop, grouped by physical device.

A tablet shows up as a USB device with pen, pad and touch event nodes plus hidraw nodes; a
microscope as several video nodes. Everything below one USB device becomes one `Candidate`.
pyudev has no asyncio API, so the monitor's netlink socket is watched with `loop.add_reader`:
no thread, no polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyudev

log = logging.getLogger("classroomd.udev")

SUBSYSTEMS = ("input", "tty", "video4linux", "hidraw", "usb")
#: Root hubs (Linux Foundation) and hubs are plumbing, not classroom devices.
LINUX_FOUNDATION_VID = 0x1D6B
HUB_CLASS = "09"


@dataclass
class Node:
    """One device node (or the USB device itself) with what udev knows about it."""

    subsystem: str
    sys_path: str
    sys_name: str
    devnode: str | None
    properties: dict[str, str]
    links: list[str] = field(default_factory=list)
    #: The input device's name (the parent `inputN`'s `name` attribute) for event nodes.
    input_name: str = ""

    def prop(self, key: str) -> str:
        return self.properties.get(key, "")

    def flag(self, key: str) -> bool:
        return self.properties.get(key) == "1"


@dataclass
class UsbInfo:
    sys_path: str
    port: str  # the kernel's port path, e.g. "1-2.3": stable while the cable stays in that socket
    vid: int
    pid: int
    serial: str | None
    manufacturer: str
    product: str
    device_class: str


@dataclass
class Candidate:
    """One physical device: its USB identity (when on USB) and every node below it."""

    key: str
    bus: str | None
    usb: UsbInfo | None
    nodes: list[Node] = field(default_factory=list)

    def of(self, subsystem: str) -> list[Node]:
        return [n for n in self.nodes if n.subsystem == subsystem and n.devnode]

    @property
    def subsystems(self) -> frozenset[str]:
        return frozenset(n.subsystem for n in self.nodes if n.devnode or n.subsystem == "usb")

    @property
    def devnodes(self) -> list[str]:
        return [n.devnode for n in self.nodes if n.devnode and n.subsystem != "usb"]


def _attr(device: pyudev.Device, name: str) -> str:
    try:
        value = device.attributes.get(name)
    except (KeyError, OSError):
        return ""
    if value is None:
        return ""
    return value.decode("utf-8", "replace").strip() if isinstance(value, bytes) else str(value).strip()


def _hex(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def usb_info(usb: pyudev.Device) -> UsbInfo | None:
    props = usb.properties
    vid = _hex(_attr(usb, "idVendor") or props.get("ID_VENDOR_ID", ""))
    pid = _hex(_attr(usb, "idProduct") or props.get("ID_MODEL_ID", ""))
    if vid is None or pid is None:
        return None
    serial = _attr(usb, "serial") or props.get("ID_SERIAL_SHORT") or None
    return UsbInfo(
        sys_path=usb.sys_path,
        port=usb.sys_name,
        vid=vid,
        pid=pid,
        serial=serial,
        manufacturer=_attr(usb, "manufacturer") or props.get("ID_VENDOR", "").replace("_", " "),
        product=_attr(usb, "product") or props.get("ID_MODEL", "").replace("_", " "),
        device_class=_attr(usb, "bDeviceClass"),
    )


def _usb_parent(device: pyudev.Device) -> pyudev.Device | None:
    if device.subsystem == "usb" and device.device_type == "usb_device":
        return device
    try:
        parent: pyudev.Device | None = device.find_parent("usb", "usb_device")
    except (KeyError, OSError):
        return None
    return parent


def _input_name(device: pyudev.Device) -> str:
    parent = device.parent
    if parent is not None and parent.subsystem == "input":
        name = _attr(parent, "name") or parent.properties.get("NAME", "").strip('"')
        if name:
            return name
    return str(device.properties.get("NAME", "")).strip('"')


def node_of(device: pyudev.Device) -> Node:
    return Node(
        subsystem=device.subsystem or "",
        sys_path=device.sys_path,
        sys_name=device.sys_name,
        devnode=device.device_node,
        properties=dict(device.properties.items()),
        links=sorted(device.device_links),
        input_name=_input_name(device) if device.subsystem == "input" else "",
    )


def relevant(device: pyudev.Device) -> bool:
    """Nodes worth a look: event nodes, USB ttys, video and hidraw nodes, and USB devices themselves."""
    sub = device.subsystem
    if sub == "usb":
        return bool(device.device_type == "usb_device")
    if device.device_node is None:
        return False
    if sub == "input":
        return str(device.sys_name).startswith("event")
    if sub == "tty":
        # ttyS0..31 exist whether or not a port is wired; only USB serial ports are plugged in.
        return _usb_parent(device) is not None
    return sub in ("video4linux", "hidraw")


def _plumbing(info: UsbInfo) -> bool:
    return info.vid == LINUX_FOUNDATION_VID or info.device_class == HUB_CLASS


def group(devices: Iterable[pyudev.Device]) -> list[Candidate]:
    """Gather nodes under their physical device (the USB device, else the input parent)."""
    by_key: dict[str, Candidate] = {}
    for device in devices:
        if not relevant(device):
            continue
        usb = _usb_parent(device)
        if usb is not None:
            info = usb_info(usb)
            if info is None or _plumbing(info):
                continue
            cand = by_key.setdefault(usb.sys_path, Candidate(usb.sys_path, "usb", info))
        else:
            parent = device.parent
            key = parent.sys_path if parent is not None and device.subsystem == "input" else device.sys_path
            bus = device.properties.get("ID_BUS") or None
            cand = by_key.setdefault(key, Candidate(key, bus, None))
        cand.nodes.append(node_of(device))
    for cand in by_key.values():
        cand.nodes.sort(key=lambda n: (n.subsystem, _natural(n.sys_name)))
    return sorted(by_key.values(), key=lambda c: c.key)


def _natural(name: str) -> tuple[str, int]:
    digits = len(name) - len(name.rstrip("0123456789"))
    return (name[: len(name) - digits], int(name[len(name) - digits:]) if digits else -1)


def enumerate_candidates(context: pyudev.Context | None = None) -> list[Candidate]:
    context = context or pyudev.Context()
    devices: list[pyudev.Device] = []
    for sub in SUBSYSTEMS:
        try:
            devices.extend(context.list_devices(subsystem=sub))
        except OSError as exc:  # a device vanishing mid-enumeration
            log.debug("enumerating %s: %s", sub, exc)
    return group(devices)


@dataclass(frozen=True)
class UEvent:
    action: str
    subsystem: str
    sys_path: str
    devnode: str | None


class UdevMonitor:
    """Calls `on_event` for every uevent of the watched subsystems, from the asyncio loop."""

    def __init__(self, on_event: Callable[[UEvent], None], context: pyudev.Context | None = None) -> None:
        self.context = context or pyudev.Context()
        self.on_event = on_event
        self._monitor: pyudev.Monitor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        monitor = pyudev.Monitor.from_netlink(self.context)
        for sub in SUBSYSTEMS:
            monitor.filter_by(sub)
        monitor.start()
        self._monitor = monitor
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(monitor.fileno(), self._readable)

    def _readable(self) -> None:
        monitor = self._monitor
        if monitor is None:
            return
        while True:
            try:
                device = monitor.poll(timeout=0)
            except OSError as exc:  # netlink overrun (ENOBUFS): the next rescan catches up
                log.warning("udev monitor: %s", exc)
                device = None
            if device is None:
                return
            event = UEvent(device.action or "", device.subsystem or "", device.sys_path, device.device_node)
            try:
                self.on_event(event)
            except Exception:
                log.exception("udev event handler failed for %s", event)

    def stop(self) -> None:
        if self._monitor is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._monitor.fileno())
            # pyudev's Monitor has no close(); dropping the last reference closes the socket.
            self._monitor = None
