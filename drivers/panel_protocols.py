"""Control protocols of interactive panels: pure encode/parse functions driven by profile data.

Four protocol families cover the panels schools buy: SMART's ASCII room-control
protocol, the ViewSonic/BenQ 9-byte frames, LG's two-letter commands and
Samsung's binary MDC. A profile file (`config/panel_profiles/*.toml`) names
the family and holds the model-specific tables: link settings, command codes,
power values and input names. Nothing here does I/O, so every codec is
tested against the bytes the vendor manuals print.

Values are normalised at this boundary: power is "on", "standby" (or
"updating"), input is the profile's input name, volume an int 0-100, mute a bool.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, Protocol

from classroomd.drivers.framing import take_until

What = Literal["power", "input", "volume", "mute"]
WHATS: tuple[What, ...] = ("power", "input", "volume", "mute")
Value = str | int | bool


class ProfileError(ValueError):
    """A profile that does not exist or does not make sense."""


@dataclass(frozen=True)
class CommandSpec:
    """One controllable setting: its codes and, for enumerations, the value tables."""

    key: str = ""  # SMART: the setting's name ("powerstate")
    set: str | int = ""  # 9-byte/LG/MDC: the command code used to write
    get: str | int = ""  # 9-byte: the (different) code used to read; others read with `set`
    write: dict[str, Any] = field(default_factory=dict)  # our value -> wire value
    read: dict[str, str] = field(default_factory=dict)  # wire value (as text) -> our value
    #: 9-byte input reads: the reply's first value digit says whether a signal is present (ViewSonic),
    #: only the other two name the input, so "104" is HDMI1 with a live source.
    signal_digit: bool = False


@dataclass(frozen=True)
class LinkSpec:
    baud: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    tcp_port: int | None = None
    reply_timeout_s: float = 1.5
    #: How long a panel may take from "power on" until it accepts other commands.
    wake_timeout_s: float = 20.0


@dataclass(frozen=True)
class Profile:
    name: str
    family: str
    vendor: str
    model: str
    link: LinkSpec
    commands: dict[str, CommandSpec]
    inputs: dict[str, Any]  # our input name -> wire value
    #: Further wire values a panel reports for an input (Samsung's "HDMI1_PC" is still hdmi1).
    input_aliases: dict[str, list[Any]] = field(default_factory=dict)

    def command(self, what: What) -> CommandSpec:
        try:
            return self.commands[what]
        except KeyError:
            raise ProfileError(f"profile {self.name} has no {what} command") from None

    def input_name(self, wire: Any) -> str:
        for name, value in self.inputs.items():
            if _same(value, wire):
                return name
        for name, values in self.input_aliases.items():
            if any(_same(value, wire) for value in values):
                return name
        return f"unknown:{_text(wire)}"


def _text(value: Any) -> str:
    return f"0x{value:02X}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return bool(a == b)


PROFILE_PACKAGE = "classroomd.config"
PROFILE_FOLDER = "panel_profiles"


def available_profiles() -> list[str]:
    folder = resources.files(PROFILE_PACKAGE) / PROFILE_FOLDER
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name: str) -> Profile:
    """A shipped profile by name ("smart-6000", "viewsonic", "benq-38400", "lg", "samsung-mdc" …)."""
    resource = resources.files(PROFILE_PACKAGE) / PROFILE_FOLDER / f"{name}.toml"
    if not name or "/" in name or not resource.is_file():
        raise ProfileError(
            f"no panel profile {name!r}; the profiles are: {', '.join(available_profiles())}"
        )
    return profile_from_dict(name, tomllib.loads(resource.read_text(encoding="utf-8")))


def profile_from_dict(name: str, data: dict[str, Any]) -> Profile:
    family = str(data.get("family", ""))
    if family not in CODECS:
        raise ProfileError(f"profile {name}: family {family!r} is not one of {', '.join(sorted(CODECS))}")
    link = LinkSpec(**data.get("link", {}))
    commands = {}
    for what, spec in data.get("commands", {}).items():
        if what not in WHATS:
            raise ProfileError(f"profile {name}: unknown command {what!r}")
        commands[what] = CommandSpec(
            key=spec.get("key", ""), set=spec.get("set", ""), get=spec.get("get", ""),
            write=dict(spec.get("write", {})), read={str(k): str(v) for k, v in spec.get("read", {}).items()},
            signal_digit=bool(spec.get("signal_digit", False)),
        )
    aliases = {str(k): list(v) for k, v in data.get("input_aliases", {}).items()}
    return Profile(name, family, str(data.get("vendor", "")), str(data.get("model", "")), link, commands,
                   dict(data.get("inputs", {})), aliases)


# --- replies ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """What one reply frame says about the request it is matched against."""

    #: False when the frame belongs to something else (a prompt, a late reply, line noise).
    matches: bool
    ok: bool = False
    value: Value | None = None
    error: str = ""


NOT_OURS = Answer(matches=False)


class Codec(Protocol):
    profile: Profile

    def encode(self, what: What, value: Value | None = None) -> bytes:
        """The bytes that read (`value` None) or write a setting."""
        ...

    def take_frame(self, buffer: bytearray) -> bytes | None:
        """Remove and return one complete reply frame from the front of `buffer`, if there is one."""
        ...

    def parse(self, what: What, writing: bool, frame: bytes) -> Answer:
        """What `frame` says in reply to a read or write of `what`."""
        ...


def _write_value(profile: Profile, what: What, value: Value) -> Any:
    """The wire value for enumerated settings (power, mute, input); numbers pass through."""
    if what == "input":
        if not isinstance(value, str) or value.lower() not in {k.lower() for k in profile.inputs}:
            raise ProfileError(f"{profile.name} has no input {value!r}; it has: {', '.join(profile.inputs)}")
        return next(v for k, v in profile.inputs.items() if k.lower() == value.lower())
    if what == "volume":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise ProfileError(f"volume must be 0..100, not {value!r}")
        return value
    key = ("on" if value else "off") if isinstance(value, bool) else str(value)
    table = profile.command(what).write
    if key not in table:
        raise ProfileError(f"{profile.name}: {what} cannot be set to {key!r}; choose {', '.join(table)}")
    return table[key]


def _read_value(profile: Profile, what: What, wire: Any) -> Value:
    if what == "input":
        return profile.input_name(wire)
    if what == "volume":
        return int(wire)
    if what == "mute":
        return _same(profile.command("mute").write.get("on"), wire)
    return profile.command(what).read.get(str(wire).lower(), profile.command(what).read.get(str(wire),
                                                                                            f"unknown:{wire}"))


# --- SMART 6000S / MX -------------------------------------------------------------------------------
class SmartCodec:
    """`get powerstate\\r` -> `powerstate=on\\r\\n>`; `set volume=65\\r`; errors `invalid cmd: …`."""

    def __init__(self, profile: Profile, display_id: int = 1) -> None:
        self.profile = profile  # SMART panels have no address on the wire: daisy-chaining is by port

    def encode(self, what: What, value: Value | None = None) -> bytes:
        key = self.profile.command(what).key
        if value is None:
            return f"get {key}\r".encode("ascii")
        wire = _write_value(self.profile, what, value)
        return f"set {key}={wire}\r".encode("ascii")

    def take_frame(self, buffer: bytearray) -> bytes | None:
        return take_until(buffer, b">")

    def parse(self, what: What, writing: bool, frame: bytes) -> Answer:
        key = self.profile.command(what).key.lower()
        text = frame.decode("ascii", "replace")
        for line in (part.strip() for part in text.replace("\r", "\n").split("\n")):
            low = line.lower()
            if low.startswith("invalid cmd"):
                return Answer(True, False, error=line)
            name, sep, raw = low.partition("=")
            if sep and name.strip() == key:
                raw = raw.strip()
                try:
                    return Answer(True, True, _read_value(self.profile, what, raw))
                except ValueError:
                    return Answer(True, False, error=f"unreadable {key} value {raw!r}")
        return NOT_OURS


# --- ViewSonic / BenQ 9-byte ---------------------------------------------------------------------
class NineByteCodec:
    """`8 01 s ! 001 CR` sets, `8 01 g l 000 CR` reads; replies `4 01 + CR`, `4 01 - CR`, `8 01 r l 001 CR`."""

    def __init__(self, profile: Profile, display_id: int = 1) -> None:
        self.profile = profile
        self.display_id = f"{display_id:02d}"

    def encode(self, what: What, value: Value | None = None) -> bytes:
        spec = self.profile.command(what)
        if value is None:
            body = f"{self.display_id}g{spec.get or spec.set}000"
        else:
            wire = _write_value(self.profile, what, value)
            wire = f"{wire:03d}" if isinstance(wire, int) else str(wire)
            body = f"{self.display_id}s{spec.set}{wire}"
        return f"{len(body) + 1}{body}\r".encode("ascii")

    def take_frame(self, buffer: bytearray) -> bytes | None:
        return take_until(buffer, b"\r")

    def parse(self, what: What, writing: bool, frame: bytes) -> Answer:
        text = frame.decode("ascii", "replace").lstrip("\n")
        if len(text) < 4 or not text[0].isdigit() or int(text[0]) != len(text) or text[1:3] != self.display_id:
            return NOT_OURS
        kind = text[3]
        if kind == "-":
            return Answer(True, False, error="the panel refused the command (invalid command reply '-')")
        if kind == "+" and writing and len(text) == 4:
            return Answer(True, True)
        spec = self.profile.command(what)
        if kind == "r" and not writing and len(text) == 8 and text[4] == str(spec.get or spec.set):
            raw = text[5:8]
            if spec.signal_digit:
                raw = "0" + raw[1:]  # signal present or not, the input is the same one
            try:
                return Answer(True, True, _read_value(self.profile, what, raw))
            except ValueError:
                return Answer(True, False, error=f"unreadable value {raw!r}")
        return NOT_OURS


# --- LG -------------------------------------------------------------------------------------------
class LgCodec:
    """`ka 01 01\\r` -> `a 01 OK01x`; `ka 01 FF\\r` reads; `NG` refuses."""

    def __init__(self, profile: Profile, display_id: int = 1) -> None:
        self.profile = profile
        self.display_id = display_id

    def encode(self, what: What, value: Value | None = None) -> bytes:
        code = str(self.profile.command(what).set)
        if value is None:
            data = "FF"
        else:
            wire = _write_value(self.profile, what, value)
            data = f"{wire:02X}" if isinstance(wire, int) else str(wire).upper()
        return f"{code} {self.display_id:02X} {data}\r".encode("ascii")

    def take_frame(self, buffer: bytearray) -> bytes | None:
        return take_until(buffer, b"x")

    def parse(self, what: What, writing: bool, frame: bytes) -> Answer:
        parts = frame.decode("ascii", "replace").strip().split()
        code = str(self.profile.command(what).set)
        if len(parts) != 3 or parts[0] != code[1] or parts[1].upper() != f"{self.display_id:02X}":
            return NOT_OURS
        status, data = parts[2][:2].upper(), parts[2][2:]
        if status == "NG":
            return Answer(True, False, error=f"the panel refused the command (NG{data})")
        if status != "OK" or len(data) != 2:
            return NOT_OURS
        try:
            number = int(data, 16)
            if what == "volume":
                return Answer(True, True, number)
            if what == "input":
                return Answer(True, True, self.profile.input_name(data.upper()))
            return Answer(True, True, _read_value(self.profile, what, data.upper()))
        except ValueError:
            return Answer(True, False, error=f"unreadable value {data!r}")


# --- Samsung MDC ----------------------------------------------------------------------------------
MDC_HEADER = 0xAA
MDC_REPLY = 0xFF
MDC_ACK = ord("A")
MDC_NAK = ord("N")
#: What a display set to Samsung's "Secured Protocol" sends first on TCP 1515: it wants TLS, then a PIN.
MDC_TLS_BANNER = b"MDCSTART<<TLS>>"
MDC_AUTH_PASS = b"MDCAUTH<<PASS>>"
MDC_AUTH_FAIL = b"MDCAUTH<<FAIL"


def mdc_checksum(body: bytes) -> int:
    """Sum of every byte after the 0xAA header, modulo 256."""
    return sum(body) & 0xFF


def mdc_frame(command: int, display_id: int, data: bytes = b"") -> bytes:
    body = bytes([command, display_id, len(data)]) + data
    return bytes([MDC_HEADER]) + body + bytes([mdc_checksum(body)])


class MdcCodec:
    """`AA 11 01 01 01 14` powers display 1 on; `AA 11 01 00 12` reads; reply `AA FF 01 03 41 11 01 56`."""

    def __init__(self, profile: Profile, display_id: int = 1) -> None:
        self.profile = profile
        self.display_id = display_id

    def encode(self, what: What, value: Value | None = None) -> bytes:
        command = int(self.profile.command(what).set)
        if value is None:
            return mdc_frame(command, self.display_id)
        wire = _write_value(self.profile, what, value)
        return mdc_frame(command, self.display_id, bytes([int(wire)]))

    def take_frame(self, buffer: bytearray) -> bytes | None:
        while buffer:
            start = buffer.find(bytes([MDC_HEADER]))
            if start < 0:
                buffer.clear()  # line noise before any header can never become a frame
                return None
            del buffer[:start]
            if len(buffer) < 4:
                return None
            total = 5 + buffer[3]
            if len(buffer) < total:
                return None
            frame = bytes(buffer[:total])
            if mdc_checksum(frame[1:-1]) == frame[-1]:
                del buffer[:total]
                return frame
            del buffer[:1]  # a false header inside noise: resynchronise on the next 0xAA
        return None

    def parse(self, what: What, writing: bool, frame: bytes) -> Answer:
        command = int(self.profile.command(what).set)
        if len(frame) < 7 or frame[1] != MDC_REPLY or frame[2] != self.display_id or frame[5] != command:
            return NOT_OURS
        if frame[4] == MDC_NAK:
            code = frame[6] if len(frame) > 7 else None
            return Answer(True, False, error=f"the panel refused the command (NAK, error code {code})")
        if frame[4] != MDC_ACK:
            return NOT_OURS
        if len(frame) < 8:
            return Answer(True, True) if writing else Answer(True, False, error="ACK without a value")
        wire = frame[6]
        return Answer(True, True, _read_value(self.profile, what, wire if what != "power" else str(wire)))


CODECS: dict[str, Callable[[Profile, int], Codec]] = {
    "smart": SmartCodec,
    "nine-byte": NineByteCodec,
    "lg": LgCodec,
    "mdc": MdcCodec,
}


def codec_for(profile: Profile, display_id: int = 1) -> Codec:
    return CODECS[profile.family](profile, display_id)
