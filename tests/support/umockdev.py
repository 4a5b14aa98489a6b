"""umockdev for tests: run Python under a fake /sys and /dev, build device trees and evdev replays.

- `run_python(code, devices=..., ioctls=..., events=..., scripts=...)` runs a snippet with
  `umockdev-run -d FILE [-i NODE=IOCTL] [-e NODE=EVENTS] [-s NODE=SCRIPT]` in the project's venv.
- `TestbedProcess` runs a snippet under `umockdev-wrapper` with a `UMockdev.Testbed` it can drive
  from the test over stdin (hot-plug: `add FILE`, `remove SYSPATH`), reading JSON lines back.
- `EvdevSpec.ioctl_text()` writes the `.ioctl` replay python-evdev needs: umockdev matches the
  ioctl request number exactly, which encodes the buffer size, so each record is sized as
  python-evdev asks (EVIOCGBIT(0) 4 bytes, EVIOCGBIT(type) 96, EVIOCGNAME/PHYS/UNIQ 256,
  EVIOCGPROP 4, EVIOCGABS 24, EVIOCGID 8, EVIOCGVERSION and EVIOCGEFFECTS 4).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "umockdev"
PYTHON = sys.executable
#: PyGObject is a Debian package; the venv reaches it by appending (not prepending) its path.
GI_PATH = "/usr/lib/python3/dist-packages"

requires_umockdev = pytest.mark.skipif(shutil.which("umockdev-run") is None,
                                       reason="umockdev-run is not installed (scripts/system-deps.sh installs it)")


def gi_available() -> bool:
    return (Path(GI_PATH) / "gi").is_dir() and shutil.which("umockdev-wrapper") is not None


requires_testbed = pytest.mark.skipif(not gi_available(),
                                      reason="umockdev-wrapper or python3-gi/gir1.2-umockdev-1.0 missing")


def _pairs(flag: str, mapping: Mapping[str, Path | str] | None) -> list[str]:
    out: list[str] = []
    for node, path in (mapping or {}).items():
        out += [flag, f"{node}={path}"]
    return out


def umockdev_command(devices: Iterable[Path | str], ioctls: Mapping[str, Path | str] | None = None,
                     events: Mapping[str, Path | str] | None = None,
                     scripts: Mapping[str, Path | str] | None = None) -> list[str]:
    cmd = ["umockdev-run"]
    for dev in devices:
        cmd += ["-d", str(dev)]
    return cmd + _pairs("-i", ioctls) + _pairs("-e", events) + _pairs("-s", scripts)


def run_python(code: str, devices: Iterable[Path | str], *, ioctls: Mapping[str, Path | str] | None = None,
               events: Mapping[str, Path | str] | None = None, scripts: Mapping[str, Path | str] | None = None,
               timeout: float = 30, args: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet in the venv under umockdev-run; the result has text stdout/stderr."""
    cmd = [*umockdev_command(devices, ioctls, events, scripts), "--", PYTHON, "-c", code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)


def run_json(code: str, devices: Iterable[Path | str], **kw: Any) -> Any:
    """Run a snippet that prints one JSON document as its last line of stdout, and parse it."""
    proc = run_python(code, devices, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"snippet failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_command(argv: list[str], devices: Iterable[Path | str], *,
                scripts: Mapping[str, Path | str] | None = None,
                ioctls: Mapping[str, Path | str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [*umockdev_command(devices, ioctls, None, scripts), "--", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)


# --- hot-plug through a Testbed --------------------------------------------------------------
TESTBED_PRELUDE = """
import sys, json
sys.path.append(GI_PATH)
import gi
gi.require_version('UMockdev', '1.0')
from gi.repository import UMockdev
testbed = UMockdev.Testbed.new()
def emit(**kw):
    print(json.dumps(kw), flush=True)
def add_fixture(name, events=None):
    # A shipped fixture with its evdev ioctl replays; `events` maps a node to a .events file name.
    import os
    manifest = json.load(open(os.path.join(FIXTURE_DIR, "fixtures.json")))[name]
    testbed.add_from_file(os.path.join(FIXTURE_DIR, manifest["umockdev"]))
    for node, ioctl in manifest["ioctl"].items():
        testbed.load_ioctl(node, os.path.join(FIXTURE_DIR, ioctl))
    for node, file in (events or {}).items():
        testbed.load_evemu_events(node, os.path.join(FIXTURE_DIR, file))
""".replace("GI_PATH", repr(GI_PATH)).replace("FIXTURE_DIR", repr(str(FIXTURES)))


class TestbedProcess:
    """A venv Python under `umockdev-wrapper` owning a `testbed`; it reads commands on stdin.

    The snippet runs after `TESTBED_PRELUDE` (which defines `testbed`, `emit(**kw)` and
    `add_fixture(name, events={node: file})`: a shipped fixture with its evdev ioctl replays) and
    is expected to read stdin lines and print JSON lines with `emit`.
    """

    __test__ = False

    def __init__(self, code: str, cwd: Path = ROOT) -> None:
        self.proc = subprocess.Popen(
            ["umockdev-wrapper", PYTHON, "-u", "-c", TESTBED_PRELUDE + code],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next JSON line whose keys equal `match` (earlier non-matching lines are dropped)."""
        while True:
            try:
                item = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {match} within {timeout}s; stderr:\n"
                                     + "".join(self.stderr[-40:])) from None
            if all(item.get(k) == v for k, v in match.items()):
                return item

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()
                self.proc.wait()


# --- device tree builders ----------------------------------------------------------------------
def _hex(data: bytes) -> str:
    return data.hex().upper()


def _bits(codes: Iterable[int], size: int) -> bytes:
    buf = bytearray(size)
    for code in codes:
        buf[code // 8] |= 1 << (code % 8)
    return bytes(buf)


def _cstr(text: str, size: int = 256) -> bytes:
    raw = text.encode()[: size - 1] + b"\0"
    return raw + bytes(size - len(raw))


@dataclass
class EvdevSpec:
    """An event node as python-evdev sees it through ioctls."""

    name: str
    vid: int
    pid: int
    phys: str = ""
    uniq: str = ""
    bustype: int = 0x03  # BUS_USB
    version: int = 0x0110
    props: list[int] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)
    msc: list[int] = field(default_factory=list)
    #: code -> (value, min, max, fuzz, flat, resolution)
    abs: dict[int, tuple[int, int, int, int, int, int]] = field(default_factory=dict)

    def ioctl_text(self) -> str:
        types = [0x00] + ([0x01] if self.keys else []) + ([0x03] if self.abs else []) + ([0x04] if self.msc else [])
        lines = [
            "# python-evdev replay: sizes as python-evdev asks (see tests/support/umockdev.py)",
            f"EVIOCGID 0 {_hex(struct.pack('<4H', self.bustype, self.vid, self.pid, self.version))}",
            f"EVIOCGNAME 0 {_hex(_cstr(self.name))}",
            f"EVIOCGPHYS 0 {_hex(_cstr(self.phys))}",
            f"EVIOCGUNIQ 0 {_hex(_cstr(self.uniq))}",
            f"EVIOCGVERSION 0 {_hex(struct.pack('<i', 0x010001))}",
            f"EVIOCGEFFECTS 0 {_hex(struct.pack('<i', 0))}",
            f"EVIOCGPROP 0 {_hex(_bits(self.props, 4))}",
            f"EVIOCGBIT 0 {_hex(_bits(types, 4))}",
        ]
        if self.keys:
            lines.append(f"EVIOCGBIT(1) 0 {_hex(_bits(self.keys, 96))}")
        if self.abs:
            lines.append(f"EVIOCGBIT(3) 0 {_hex(_bits(self.abs, 96))}")
        if self.msc:
            lines.append(f"EVIOCGBIT(4) 0 {_hex(_bits(self.msc, 96))}")
        for code, info in sorted(self.abs.items()):
            lines.append(f"EVIOCGABS({code}) 0 {_hex(struct.pack('<6i', *info))}")
        return "\n".join(lines) + "\n"

    def modalias(self) -> str:
        return f"input:b{self.bustype:04X}v{self.vid:04X}p{self.pid:04X}e{self.version:04X}-"


def record(path: str, *, node: str | None = None, env: Mapping[str, str] | None = None,
           attrs: Mapping[str, str] | None = None, links: Iterable[str] = ()) -> str:
    """One `.umockdev` record (P/N/S/E/A lines)."""
    lines = [f"P: {path}"]
    if node:
        lines.append(f"N: {node}")
    lines += [f"S: {link}" for link in links]
    lines += [f"E: {k}={v}" for k, v in (env or {}).items()]
    lines += [f"A: {k}={v}" for k, v in (attrs or {}).items()]
    return "\n".join(lines) + "\n"


@dataclass
class UsbDevice:
    """A USB device at `/devices/pci0000:00/0000:00:14.0/usb{bus}/{port}` and the nodes below it."""

    port: str  # kernel port path, e.g. "1-2"
    vid: int
    pid: int
    manufacturer: str
    product: str
    serial: str | None = None
    busnum: int = 1
    devnum: int = 2
    device_class: str = "00"
    records: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/devices/pci0000:00/0000:00:14.0/usb{self.busnum}/{self.port}"

    def usb_env(self) -> dict[str, str]:
        env = {"ID_BUS": "usb", "ID_VENDOR_ID": f"{self.vid:04x}", "ID_MODEL_ID": f"{self.pid:04x}",
               "ID_VENDOR": self.manufacturer.replace(" ", "_"), "ID_MODEL": self.product.replace(" ", "_"),
               "ID_PATH": f"pci-0000:00:14.0-usb-0:{self.port.split('-', 1)[1]}"}
        if self.serial:
            env["ID_SERIAL_SHORT"] = self.serial
            env["ID_SERIAL"] = f"{env['ID_VENDOR']}_{env['ID_MODEL']}_{self.serial}"
        else:
            env["ID_SERIAL"] = f"{env['ID_VENDOR']}_{env['ID_MODEL']}"
        return env

    def interface(self, number: int) -> str:
        return f"{self.path}/{self.port}:1.{number}"

    def event_node(self, iface: int, input_n: int, event_n: int, spec: EvdevSpec,
                   udev: Mapping[str, str]) -> str:
        """An `inputN/eventM` pair; `udev` adds ID_INPUT_* (rules do not run under umockdev)."""
        hid = f"{self.interface(iface)}/0003:{self.vid:04X}:{self.pid:04X}.{iface + 1:04X}"
        input_path = f"{hid}/input/input{input_n}"
        env = {"SUBSYSTEM": "input", "DEVNAME": f"/dev/input/event{event_n}", "ID_INPUT": "1",
               **self.usb_env(), **udev}
        self.records.append(record(f"{input_path}/event{event_n}", node=f"input/event{event_n}", env=env,
                                   attrs={"dev": f"13:{64 + event_n}"}))
        self.records.append(record(input_path, env={"SUBSYSTEM": "input", "NAME": f'"{spec.name}"',
                                                    "PRODUCT": f"3/{self.vid:x}/{self.pid:x}/110"},
                                   attrs={"name": spec.name, "phys": spec.phys, "uniq": spec.uniq}))
        return f"/dev/input/event{event_n}"

    def hidraw(self, iface: int, n: int) -> str:
        hid = f"{self.interface(iface)}/0003:{self.vid:04X}:{self.pid:04X}.{iface + 1:04X}"
        self.records.append(record(f"{hid}/hidraw/hidraw{n}", node=f"hidraw{n}",
                                   env={"SUBSYSTEM": "hidraw", "DEVNAME": f"/dev/hidraw{n}"},
                                   attrs={"dev": f"244:{n}"}))
        return f"/dev/hidraw{n}"

    def video_node(self, iface: int, n: int, capture: bool) -> str:
        env = {"SUBSYSTEM": "video4linux", "DEVNAME": f"/dev/video{n}", **self.usb_env(),
               "ID_V4L_VERSION": "2", "ID_V4L_PRODUCT": self.product,
               "ID_V4L_CAPABILITIES": ":capture:" if capture else ":",
               "ID_USB_INTERFACES": ":0e0100:0e0200:"}
        ident = f"{self.manufacturer}_{self.product}".replace(" ", "_")
        link = f"v4l/by-id/usb-{ident}-video-index{n % 2}"
        self.records.append(record(f"{self.interface(iface)}/video4linux/video{n}", node=f"video{n}", env=env,
                                   attrs={"dev": f"81:{n}", "name": self.product, "index": str(n % 2)},
                                   links=[link]))
        return f"/dev/video{n}"

    def tty(self, iface: int, name: str, minor: int, driver: str = "cdc_acm", maker_tool: bool = False) -> str:
        env = {"SUBSYSTEM": "tty", "DEVNAME": f"/dev/{name}", **self.usb_env(), "ID_USB_DRIVER": driver}
        if maker_tool:
            env["ID_MAKER_TOOL"] = "1"
        major = 166 if name.startswith("ttyACM") else 188
        links = [f"serial/by-path/pci-0000:00:14.0-usb-0:{self.port.split('-', 1)[1]}:1.{iface}"]
        if self.serial:
            links.append(f"serial/by-id/usb-{env['ID_SERIAL']}-if{iface:02d}")
        parent = self.interface(iface)
        if name.startswith("ttyUSB"):
            parent = f"{parent}/{name}"
        self.records.append(record(f"{parent}/tty/{name}", node=name, env=env,
                                   attrs={"dev": f"{major}:{minor}"}, links=links))
        return f"/dev/{name}"

    def text(self) -> str:
        env = {"SUBSYSTEM": "usb", "DEVTYPE": "usb_device",
               "DEVNAME": f"/dev/bus/usb/{self.busnum:03d}/{self.devnum:03d}",
               "BUSNUM": f"{self.busnum:03d}", "DEVNUM": f"{self.devnum:03d}",
               "PRODUCT": f"{self.vid:x}/{self.pid:x}/100", **self.usb_env()}
        attrs = {"idVendor": f"{self.vid:04x}", "idProduct": f"{self.pid:04x}", "manufacturer": self.manufacturer,
                 "product": self.product, "bDeviceClass": self.device_class, "busnum": str(self.busnum),
                 "devnum": str(self.devnum), "devpath": self.port.split("-", 1)[1],
                 "dev": f"189:{(self.busnum - 1) * 128 + self.devnum - 1}"}
        if self.serial:
            attrs["serial"] = self.serial
        usb = record(self.path, env=env, attrs=attrs)
        return "\n".join([*self.records, usb])


# --- the shipped fixtures --------------------------------------------------------------------
@dataclass
class FixtureSet:
    devices: list[Path]
    ioctls: dict[str, Path]


def fixtures(*names: str) -> FixtureSet:
    """The `.umockdev` files and evdev `.ioctl` replays of the named fixtures (see fixtures.json)."""
    manifest = json.loads((FIXTURES / "fixtures.json").read_text())
    chosen = names or tuple(manifest)
    out = FixtureSet([], {})
    for name in chosen:
        entry = manifest[name]
        out.devices.append(FIXTURES / entry["umockdev"])
        out.ioctls.update({node: FIXTURES / f for node, f in entry["ioctl"].items()})
    return out
