"""Decide what a physical device is: a config entry, a catalog rule, udev properties, evdev capabilities.

The result is a `DeviceInfo` whose `matched_by` says which rule decided, or an `Unclassified`
record that says why nothing did. Nothing here talks to the device beyond reading evdev
capabilities (ioctls that change nothing).
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from classroomd.config.schema import Config
from classroomd.daemon.catalog import Catalog, Facts
from classroomd.devices.base import DeviceInfo, Kind
from classroomd.drivers.udev_monitor import Candidate, Node

# evdev codes (linux/input-event-codes.h); spelled here so classification needs no evdev import.
EV_KEY, EV_ABS = 0x01, 0x03
BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_STYLUS = 0x140, 0x141, 0x14B
ABS_PRESSURE, ABS_MT_SLOT, ABS_MT_POSITION_X = 0x18, 0x2F, 0x35
INPUT_PROP_DIRECT = 0x01

#: The group that owns each kind of node on Debian, for permission hints.
NODE_GROUPS = {"tty": "dialout", "input": "input", "video4linux": "video", "hidraw": "plugdev"}


@dataclass(frozen=True)
class Capabilities:
    """What an event node can report, as far as classification cares."""

    contacts: int = 0  # ABS_MT_SLOT max + 1; 1 for single-touch; 0 when not a touch surface
    pen: bool = False
    eraser: bool = False
    pressure: bool = False
    direct: bool = False
    pressure_levels: int = 0

    def describe(self) -> str:
        parts = []
        if self.contacts:
            parts.append(f"{self.contacts} contacts")
        if self.pen:
            parts.append("pen" + (" + eraser" if self.eraser else ""))
        if self.pressure:
            parts.append(f"pressure {self.pressure_levels} levels")
        if self.direct:
            parts.append("direct")
        return ", ".join(parts) or "no pen or touch axes"


CapabilityReader = Callable[[str], "Capabilities | str"]


def read_capabilities(path: str) -> Capabilities | str:
    """Capabilities of an event node, or why they could not be read (the error text)."""
    import evdev  # imported here: the udev side of discovery must work where evdev cannot load

    try:
        device = evdev.InputDevice(path, readonly=True)
    except OSError as exc:
        return f"{exc.strerror or exc} ({path})"
    try:
        caps = device.capabilities(absinfo=True)
        props = device.input_props()
    except OSError as exc:
        return f"{exc.strerror or exc} ({path})"
    finally:
        device.close()
    keys: set[int] = {k for k in caps.get(EV_KEY, []) if isinstance(k, int)}
    absinfo: dict[int, Any] = {}
    for item in caps.get(EV_ABS, []):
        if isinstance(item, tuple):
            absinfo[item[0]] = item[1]
    contacts = 0
    if ABS_MT_SLOT in absinfo:
        contacts = absinfo[ABS_MT_SLOT].max + 1
    elif ABS_MT_POSITION_X in absinfo:
        contacts = 1
    pressure = absinfo.get(ABS_PRESSURE)
    return Capabilities(
        contacts=contacts,
        pen=BTN_TOOL_PEN in keys or BTN_STYLUS in keys,
        eraser=BTN_TOOL_RUBBER in keys,
        pressure=pressure is not None,
        direct=INPUT_PROP_DIRECT in props,
        pressure_levels=(pressure.max - pressure.min + 1) if pressure is not None else 0,
    )


@dataclass
class Unclassified:
    """A device discovery saw and did not make into a classroom device, with the reason."""

    key: str
    name: str
    reason: str
    paths: list[str] = field(default_factory=list)
    vid: int | None = None
    pid: int | None = None
    serial: str = ""
    #: The catalog rule that matched without deciding a kind (a USB-serial bridge), if any.
    matched_by: str = ""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "paths": list(self.paths), "reason": self.reason}
        if self.vid is not None and self.pid is not None:
            out["usb"] = f"{self.vid:04x}:{self.pid:04x}"
        if self.serial:
            out["serial"] = self.serial
        if self.matched_by:
            out["matched_by"] = self.matched_by
        return out


# --- identity -----------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def stable_id(kind: str, vid: int | None, pid: int | None, serial: str | None, port: str) -> str:
    """`{kind}-{vid}-{pid}-{serial}`, or `…-usb{port}` without a serial: the same after a replug."""
    prefix = kind.replace("_", "-")
    ids = f"-{vid:04x}-{pid:04x}" if vid is not None and pid is not None else ""
    tail = _slug(serial) if serial else ""
    if tail:
        if len(tail) > 20:  # long serials (hex GUIDs) keep the id readable and under 63 characters
            tail = tail[:8] + "-" + hashlib.sha1(serial.encode()).hexdigest()[:8]  # type: ignore[union-attr]
    else:
        tail = "usb" + _slug(port) if ids else _slug(port)
    return f"{prefix}{ids}-{tail}"[:63].rstrip("-")


# --- facts --------------------------------------------------------------------------------------
def candidate_names(cand: Candidate) -> list[str]:
    names: list[str] = []
    if cand.usb is not None:
        if cand.usb.product:
            names.append(cand.usb.product)
        if cand.usb.manufacturer and cand.usb.product:
            names.append(f"{cand.usb.manufacturer} {cand.usb.product}")
    for node in cand.nodes:
        for name in (node.input_name, node.prop("ID_V4L_PRODUCT"), node.prop("ID_MODEL").replace("_", " ")):
            if name and name not in names:
                names.append(name)
    return names


def facts_of(cand: Candidate) -> Facts:
    paths: list[str] = []
    for node in cand.nodes:
        if node.devnode and node.subsystem != "usb":
            paths.append(node.devnode)
            paths.extend(node.links)
    usb = cand.usb
    return Facts(
        bus=cand.bus,
        subsystems=cand.subsystems,
        vid=usb.vid if usb else None,
        pid=usb.pid if usb else None,
        names=tuple(candidate_names(cand)),
        serial=usb.serial if usb else None,
        paths=tuple(paths),
    )


def display_name(cand: Candidate, vendor: str = "") -> str:
    names = candidate_names(cand)
    base = names[0] if names else (cand.nodes[0].sys_name if cand.nodes else cand.key)
    base = re.sub(r"\s+(Pen|Pad|Finger|Touch|Stylus|Mouse|Keyboard)$", "", base, flags=re.IGNORECASE)
    if vendor and vendor.split()[0].lower() not in base.lower():
        return f"{vendor} {base}"
    return base


# --- permissions --------------------------------------------------------------------------------
def access_problem(path: str, subsystem: str, write: bool) -> str | None:
    """Why this process cannot open a node, naming the group or rule that would fix it; None if it can."""
    mode = os.R_OK | (os.W_OK if write else 0)
    if os.access(path, mode):
        return None
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    group = _group_name(st.st_gid)
    user = _user_name()
    wanted = NODE_GROUPS.get(subsystem, group)
    return (f"{path} is {stat.filemode(st.st_mode)} {_user_name(st.st_uid)}:{group} and user {user!r} "
            f"cannot {'read and write' if write else 'read'} it: add the user to group {wanted!r} "
            f"(usermod -aG {wanted} {user}) or install the udev rules (classroomd udev install)")


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _user_name(uid: int | None = None) -> str:
    uid = os.geteuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


# --- classification -----------------------------------------------------------------------------
@dataclass
class Evidence:
    """What the nodes say: udev flags and evdev capabilities, with the words for `matched_by`."""

    tablet_nodes: list[Node] = field(default_factory=list)
    touch_nodes: list[Node] = field(default_factory=list)
    capture_nodes: list[Node] = field(default_factory=list)
    #: Indirect multi-touch (a tablet's finger surface, a touchpad): part of a tablet, never a table.
    finger_nodes: list[Node] = field(default_factory=list)
    caps: dict[str, Capabilities] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    maker_tool: bool = False

    @property
    def contacts(self) -> int:
        return max((self.caps[n.devnode].contacts for n in self.touch_nodes
                    if n.devnode in self.caps), default=0)


def gather(cand: Candidate, read_caps: CapabilityReader) -> Evidence:
    ev = Evidence()
    for node in cand.of("input"):
        assert node.devnode is not None
        tablet = node.flag("ID_INPUT_TABLET") or node.flag("ID_INPUT_TABLET_PAD")
        touch = node.flag("ID_INPUT_TOUCHSCREEN")
        caps: Capabilities | None = None
        if tablet or touch or not any(node.flag(k) for k in ("ID_INPUT_KEYBOARD", "ID_INPUT_MOUSE")):
            got = read_caps(node.devnode)
            if isinstance(got, str):
                ev.unreadable[node.devnode] = got
            else:
                caps = got
                ev.caps[node.devnode] = got
        # Without udev rules (containers, umockdev) the capabilities alone must do.
        if not tablet and caps is not None and caps.pen and caps.pressure:
            tablet = True
        if not touch and not tablet and caps is not None and caps.contacts and caps.direct:
            touch = True
        if tablet:
            ev.tablet_nodes.append(node)
        elif touch:
            ev.touch_nodes.append(node)
        elif node.flag("ID_INPUT_TOUCHPAD") or (caps is not None and caps.contacts):
            ev.finger_nodes.append(node)
    for node in cand.of("video4linux"):
        if ":capture:" in node.prop("ID_V4L_CAPABILITIES"):
            ev.capture_nodes.append(node)
    ev.maker_tool = any(n.flag("ID_MAKER_TOOL") for n in cand.nodes)
    return ev


def _touch_kind(contacts: int, catalog: Catalog) -> tuple[Kind, str]:
    limit = catalog.touch_table_min_contacts
    if contacts >= limit:
        return Kind.TOUCH_TABLE, f"{contacts} contacts ≥ {limit}: touch table"
    return Kind.PANEL, f"{contacts} contacts < {limit}: panel touch"


def _primary_paths(kind: Kind, cand: Candidate, ev: Evidence) -> list[str]:
    """The node the device class opens comes first."""
    if kind is Kind.PRINTER or (kind is Kind.PANEL and cand.of("tty") and not ev.touch_nodes):
        first = [n.devnode for n in cand.of("tty")]
    elif kind is Kind.MICROSCOPE:
        first = [n.devnode for n in (ev.capture_nodes or cand.of("video4linux"))]
    elif kind is Kind.TABLET:
        first = [n.devnode for n in ev.tablet_nodes + ev.touch_nodes + ev.finger_nodes]
    elif kind in (Kind.TOUCH_TABLE, Kind.PANEL):
        first = [n.devnode for n in ev.touch_nodes]
    else:
        first = []
    ordered = [p for p in first if p]
    return ordered + [p for p in cand.devnodes if p not in ordered]


def _tablet_roles(ev: Evidence) -> dict[str, str]:
    roles: dict[str, str] = {}
    for node in ev.tablet_nodes:
        assert node.devnode is not None
        role = "pad" if node.flag("ID_INPUT_TABLET_PAD") else "pen"
        roles.setdefault(role, node.devnode)
    for node in ev.touch_nodes + ev.finger_nodes:
        assert node.devnode is not None
        roles.setdefault("touch", node.devnode)
    return roles


def classify(cand: Candidate, catalog: Catalog, config: Config | None = None,
             read_caps: CapabilityReader = read_capabilities) -> DeviceInfo | Unclassified:
    facts = facts_of(cand)
    usb = cand.usb
    match = catalog.match(facts, config)
    ev = gather(cand, read_caps)
    # A pen display's touchscreen node (fingers on the tablet) is part of the tablet, not a table.
    if ev.tablet_nodes and ev.touch_nodes:
        ev.finger_nodes.extend(ev.touch_nodes)
        ev.touch_nodes = []

    def unclassified(reason: str, matched_by: str = "") -> Unclassified:
        return Unclassified(cand.key, display_name(cand, match.rule.vendor if match else ""), reason,
                            cand.devnodes, facts.vid, facts.pid, facts.serial or "", matched_by)

    kind: Kind | None = None
    why: list[str] = []
    options: dict[str, Any] = {}
    probe: str | None = None
    if match is not None and match.rule.source == "config":
        assert match.rule.kind is not None
        kind = Kind(match.rule.kind)
        why.append(match.explain())
    elif match is not None and match.rule.bridge:
        return unclassified(
            f"{match.rule.model or 'a generic USB-serial bridge'}: what is behind it is unknown and a "
            "bridge is never probed on its own; declare it in the config ([[devices]] with kind and "
            f"port = \"{(cand.of('tty')[0].devnode if cand.of('tty') else '/dev/ttyUSB0')}\", or "
            "match = {vid, pid, serial})", match.explain())
    elif match is not None and match.rule.kind == "touch":
        if not ev.touch_nodes:
            return unclassified(f"{match.explain()} names a touch controller, but no event node reports "
                                "multi-touch (ID_INPUT_TOUCHSCREEN or ABS_MT_SLOT)", match.explain())
        if not _contacts_known(ev):
            return unclassified(_unreadable_reason(ev), match.explain())
        kind, decided = _touch_kind(ev.contacts, catalog)
        why += [match.explain(), f"evdev {decided}"]
    elif match is not None and match.rule.kind is not None:
        kind = Kind(match.rule.kind)
        why.append(match.explain())
        probe = match.rule.probe
    elif ev.tablet_nodes:
        kind = Kind.TABLET
        flag = "ID_INPUT_TABLET" if any(n.flag("ID_INPUT_TABLET") for n in ev.tablet_nodes) else None
        caps = [ev.caps[n.devnode] for n in ev.tablet_nodes if n.devnode in ev.caps]
        why.append(f"udev {flag}=1" if flag else "evdev pen tool with pressure")
        if caps:
            why.append("evdev " + "; ".join(c.describe() for c in caps))
    elif ev.touch_nodes:
        if not _contacts_known(ev):
            return unclassified(_unreadable_reason(ev))
        kind, decided = _touch_kind(ev.contacts, catalog)
        screen = any(n.flag("ID_INPUT_TOUCHSCREEN") for n in ev.touch_nodes)
        why += ["udev ID_INPUT_TOUCHSCREEN=1" if screen else "evdev direct multi-touch", f"evdev {decided}"]
    elif ev.maker_tool and cand.of("tty"):
        kind = Kind.PRINTER
        why.append("udev ID_MAKER_TOOL=1 (systemd hwdb)")
        probe = "m115"
    elif ev.capture_nodes:
        return unclassified(
            "a UVC camera, but nothing says it is a microscope (no catalog rule for its ids or name); "
            "add a [[devices]] entry with kind = \"microscope\" and match = {vid, pid}")
    elif cand.of("tty"):
        return unclassified(
            "a USB serial port of unknown use; ports are probed only when the catalog marks them as "
            "printers or the config declares them")
    else:
        ids = f"usb {facts.vid:04x}:{facts.pid:04x}" if facts.vid is not None and facts.pid is not None else "it"
        what = "a HID device" if cand.of("hidraw") else "a device"
        return unclassified(f"{what} with no catalog rule for {ids} and no udev property or "
                            "capability that names a classroom kind")

    if kind in (Kind.TABLET, Kind.TOUCH_TABLE) and not cand.of("input"):
        return unclassified(f"{'; '.join(why)}, but the kernel made no input event node for it "
                            "(is its driver loaded? `dmesg` tells)", match.explain() if match else "")
    rule = match.rule if match is not None else None
    if rule is not None:
        options.update(rule.options)
    if kind is Kind.TABLET:
        options["nodes"] = _tablet_roles(ev)
        levels = max((c.pressure_levels for c in ev.caps.values()), default=0)
        if levels:
            options["pressure_levels"] = levels
    if kind in (Kind.TOUCH_TABLE, Kind.PANEL) and ev.touch_nodes:
        options["contacts"] = ev.contacts
    if kind is Kind.PANEL and not cand.of("tty"):
        # A panel's touch overlay or a whiteboard's HID: the panel's control port is in the config.
        options["role"] = "touch"
    if probe is not None:
        options["probe"] = probe
    paths = _primary_paths(kind, cand, ev)
    entry = rule.entry if rule is not None else None
    device_id = entry.id if entry is not None else stable_id(
        str(kind), facts.vid, facts.pid, facts.serial, usb.port if usb else cand.nodes[0].sys_name)
    vendor = (rule.vendor if rule is not None and rule.vendor else (usb.manufacturer if usb else ""))
    info = DeviceInfo(
        id=device_id,
        kind=kind,
        name=(entry.name if entry is not None and entry.name else display_name(cand, vendor)),
        vendor=vendor,
        model=(rule.model if rule is not None and rule.model else (usb.product if usb else "")),
        serial=facts.serial or "",
        transport=(rule.transport if rule is not None and rule.transport else
                   ("serial" if kind is Kind.PRINTER or (kind is Kind.PANEL and cand.of("tty") and not ev.touch_nodes)
                    else ("usb" if usb else (cand.bus or "")))),
        paths=paths,
        vid=facts.vid,
        pid=facts.pid,
        matched_by="; ".join(why),
        options=options,
    )
    fault = _fault(kind, cand, ev, paths)
    if fault:
        info.options["status"] = "fault"
        info.options["reason"] = fault
    return info


def _contacts_known(ev: Evidence) -> bool:
    return any(n.devnode in ev.caps for n in ev.touch_nodes)


def _unreadable_reason(ev: Evidence) -> str:
    """Why the contact count is unknown; for a permission problem, the group to join."""
    for node in ev.touch_nodes:
        assert node.devnode is not None
        problem = access_problem(node.devnode, "input", write=False)
        if problem:
            return f"a touch surface whose contact count cannot be read: {problem}"
    return "a touch surface whose contact count cannot be read: " + "; ".join(ev.unreadable.values())


def _fault(kind: Kind, cand: Candidate, ev: Evidence, paths: list[str]) -> str | None:
    if not paths:
        return None
    node = next((n for n in cand.nodes if n.devnode == paths[0]), None)
    if node is None:
        return None
    return access_problem(paths[0], node.subsystem, write=node.subsystem == "tty")
