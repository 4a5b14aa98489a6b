"""Interactive panels: the control port (power, input, volume) and the lesson board shown on them.

A panel is driven two ways. Its control port (RS-232 or LAN, one of the
protocol families in `drivers/panel_protocols.py`) turns it on and switches it
to the input the classroom PC is on; the lesson board, a web page on that
input, shows what the lesson pushes. A panel without a control port is still
a display: `show` then only talks to the board.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from classroomd.core.retry import RetryPolicy
from classroomd.core.timestamps import now_iso
from classroomd.devices.base import (
    Device,
    DeviceHost,
    Kind,
    Localized,
    NoArgs,
    Property,
    RequestError,
    Status,
    action,
)
from classroomd.drivers.evdev_input import BTN_TOUCH, EV_KEY, InputEvent, InputGone, InputSource, open_source
from classroomd.drivers.mdc_secured import MdcLoginRefused, log_in
from classroomd.drivers.panel_protocols import (
    MDC_TLS_BANNER,
    Codec,
    Profile,
    ProfileError,
    Value,
    What,
    codec_for,
    load_profile,
)
from classroomd.drivers.serial_link import LinkClosed, SerialLink, SerialSettings
from classroomd.drivers.tcp_link import TcpLink
from classroomd.drivers.wake_on_lan import BROADCAST, parse_mac, send_magic_packet

AWAKE = ("on",)
NOT_RESPONDING = "not_responding"
SECURED_PROTOCOL = "secured_protocol"
#: How often the magic packet is sent again while waiting for a panel's control port (UDP may drop it).
WOL_RESEND_S = 5.0
#: Who holds the board when no device was handed it.
TEACHER = "teacher"
#: The kinds the teacher may hand the board to: they put their own content on it.
HANDABLE = (Kind.GLOBE, Kind.TABLET, Kind.TOUCH_TABLE)
#: The same note from a device at most once a second: a pen sends dozens of batches a second.
NOTE_EVERY_S = 1.0
HANDED_TEXT = {"kk": "Панель осы құрылғыға берілді", "ru": "Панель передана этому устройству",
               "en": "The panel is handed to this device"}
DRAWING_TEXT = {"kk": "сызып жатыр", "ru": "рисует", "en": "is drawing"}


class PanelOptions(BaseModel):
    """Panel keys of a `[[devices]]` entry (besides `port`/`host`/`tcp_port`/`baud`/`profile`)."""

    model_config = ConfigDict(extra="forbid")
    #: The panel input the classroom PC (and so the lesson board) is connected to.
    input: str = "hdmi1"
    #: How often power and input are read back, which is also how a silent panel is noticed.
    poll_s: float = Field(10.0, gt=0, le=3600)
    #: The board's language for this panel (default: `[agent] language`); the page's `?lang=` overrides it.
    language: Literal["kk", "ru", "en"] | None = None
    #: The panel's address on its bus (9-byte, LG and MDC protocols; 1 unless daisy-chained).
    display_id: int = Field(1, ge=0, le=254)
    #: How long `show` waits for the board to confirm.
    board_timeout_s: float = Field(5.0, gt=0, le=60)
    #: The panel's touchscreen: an evdev node (/dev/input/by-id/…-event-if00) or replay:///recording.json.
    touch: str | None = None
    #: The panel's MAC: with `host`, power-on starts with Wake-on-LAN, since many panels close
    #: their control port in standby (and a closed port then reads as standby, not as a fault).
    mac: str | None = None
    #: Where the magic packet goes: the LAN's broadcast, or a directed broadcast such as 192.168.10.255.
    wol_address: str = BROADCAST
    wol_port: int = Field(9, gt=0, lt=65536)
    #: Samsung MDC with "Secured Protocol" on: the PIN set in the display's menu (TLS on TCP 1515).
    mdc_pin: str | None = Field(None, min_length=1, max_length=16)
    #: Seconds a note about a device without the focus stays in the board's corner; 0: no notes.
    notes_s: float = Field(4.0, ge=0, le=60)

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None:
            parse_mac(value)
        return value


class PowerArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["on", "standby"]


class InputArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="an input of the panel's profile, e.g. hdmi1")


class VolumeArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(ge=0, le=100)


class MuteArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: bool


class ShowArgs(BaseModel):
    """Exactly one of: a media id, a microscope's live stream, a card, or clear."""

    model_config = ConfigDict(extra="forbid")
    media: str | None = Field(None, description="a media id from a capture")
    stream: str | None = Field(None, description="a microscope's device id: its live stream")
    card: dict[str, Any] | None = Field(
        None, description='a card: {"type": "print"|"country"|"text", ...}')
    clear: bool | None = Field(None, description='true: the blank "eyes here" screen')

    @model_validator(mode="after")
    def _one(self) -> ShowArgs:
        given = [k for k in ("media", "stream", "card", "clear") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError("give exactly one of media, stream, card or clear")
        return self


class HandArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str = Field(min_length=1, description="a globe, a tablet (its ink) or a touch table of this classroom")


@runtime_checkable
class FocusSource(Protocol):
    """A device with something of its own to show the moment it is handed the board (a globe's last country)."""

    def focus_content(self) -> dict[str, Any] | None:
        """`show` arguments, or None for a plain "handed to" card."""


class PanelTouch:
    """The panel's touchscreen, watched only to report it: is it there, and is someone touching it.

    It never grabs the node (touch belongs to the desktop), and a touchscreen that is
    missing does not make the panel faulty: it is reported and reopened every few seconds.
    """

    def __init__(self, path: str, changed: Any, policy: Callable[[], RetryPolicy]) -> None:
        self.path = path
        self._changed = changed
        self.policy = policy
        self.source: InputSource | None = None
        self.contacts = 0
        self.touching = False
        self.touches = 0
        self.last_touch: str | None = None
        self.problem = ""
        self._reopen: asyncio.Task[None] | None = None

    def open(self) -> None:
        try:
            source = open_source(self.path)
        except (InputGone, OSError) as exc:
            self._gone(str(exc))
            return
        self.source, self.problem, self.contacts = source, "", source.caps.max_contacts
        source.start(self._events, self._gone)
        self._changed()

    def _events(self, batch: list[InputEvent]) -> None:
        for event in batch:
            if event.type == EV_KEY and event.code == BTN_TOUCH and bool(event.value) != self.touching:
                self.touching = bool(event.value)
                if self.touching:
                    self.touches += 1
                    self.last_touch = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                self._changed()

    def _gone(self, reason: str) -> None:
        self.source, self.touching, self.problem = None, False, reason
        self._changed()
        if self._reopen is None or self._reopen.done():
            self._reopen = asyncio.create_task(self._reopen_loop(), name=f"touch-{self.path}")

    async def _reopen_loop(self) -> None:
        # Part of a panel that stays ready without it, so not the Supervisor's to reopen; the same back-off.
        delays = self.policy().delays()
        while self.source is None:
            await asyncio.sleep(next(delays))
            self.open()

    def close(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
        if self.source is not None:
            self.source.close()
            self.source = None

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.path, "online": self.source is not None, "contacts": self.contacts,
                               "touching": self.touching, "touches": self.touches, "last_touch": self.last_touch}
        if self.problem:
            out["problem"] = self.problem
        return out


class ControlError(Exception):
    """The panel did not do what was asked (no reply, garbage, or a refusal)."""

    def __init__(self, message: str, silent: bool = False, unreachable: bool = False,
                 secured: bool = False) -> None:
        super().__init__(message)
        #: True when the panel did not answer at all (as opposed to answering "no").
        self.silent = silent or unreachable or secured
        #: True when the control port could not even be connected to (a panel asleep off the LAN).
        self.unreachable = unreachable
        #: True when a Samsung display wants its Secured Protocol login, which we lack or which failed.
        self.secured = secured


class PanelDevice(Device):
    kind = Kind.PANEL
    Options = PanelOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.options, PanelOptions)
        self.opts: PanelOptions = self.options
        self.profile: Profile | None = None
        self.codec: Codec | None = None
        self.link: SerialLink | TcpLink | None = None
        self.power: str = "unknown"
        self.input: str | None = None
        self.volume: int | None = None
        self.mute: bool | None = None
        self.last_shown: dict[str, Any] | None = None
        self.last_contact: float | None = None
        self._buffer = bytearray()
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self.touch = (PanelTouch(self.opts.touch, self.changed, lambda: self.host.retry_policy)
                      if self.opts.touch else None)
        self._profile_error: ProfileError | None = None
        #: Set when the display refused our PIN: not retried (it blocks after a few wrong ones).
        self._login_refused: str | None = None
        #: The teacher's, or the id of the device the teacher handed the board to.
        self.focus: str = TEACHER
        self.focus_since: str = now_iso()
        #: What the teacher had on the board when handing it over: `take_back` shows it again.
        self.teacher_content: dict[str, Any] | None = None
        self._noted: dict[str, tuple[object, float]] = {}
        cfg = self.config
        if cfg is not None and (cfg.port or cfg.host):
            try:
                self.profile = load_profile(cfg.profile or "")
            except ProfileError as exc:  # reported as the device's fault reason at start
                self._profile_error = exc
            else:
                self.codec = codec_for(self.profile, self.opts.display_id)
                self.info.vendor, self.info.model = self.profile.vendor, self.profile.model

    # --- lifecycle --------------------------------------------------------------------------------
    @property
    def has_control(self) -> bool:
        return self.codec is not None or self._profile_error is not None

    def _make_link(self) -> SerialLink | TcpLink:
        cfg = self.config
        assert cfg is not None and self.profile is not None
        spec = self.profile.link
        if cfg.host:
            port = cfg.tcp_port or spec.tcp_port
            if port is None:
                raise ProfileError(f"profile {self.profile.name} has no LAN port; set tcp_port in the device entry")
            return TcpLink(cfg.host, port)
        assert cfg.port is not None
        return SerialLink(cfg.port, SerialSettings(
            baud=cfg.baud or spec.baud, bytesize=spec.bytesize, parity=spec.parity, stopbits=spec.stopbits))

    @property
    def _wakes_by_lan(self) -> bool:
        """A LAN-controlled panel with a MAC: asleep, it may be off the LAN, and Wake-on-LAN brings it back."""
        return bool(self.opts.mac and self.config is not None and self.config.host)

    async def _open_link(self) -> None:
        """Open the control link, logging in first where the display wants Samsung's Secured Protocol."""
        assert self.link is not None and self.profile is not None
        if self._login_refused is not None:
            raise ControlError(self._login_refused, secured=True)
        await self.link.open()
        if isinstance(self.link, TcpLink) and self.profile.family == "mdc" and self.opts.mdc_pin:
            try:
                await log_in(self.link, self.opts.mdc_pin, self.profile.link.reply_timeout_s * 2)
            except MdcLoginRefused as exc:
                self._login_refused = f"{exc}; fix mdc_pin in the device entry and restart the daemon"
                await self.link.close()
                raise ControlError(self._login_refused, secured=True) from None

    async def start(self, host: DeviceHost) -> None:
        await super().start(host)
        if self._profile_error is not None:
            raise self._profile_error
        if self.touch is not None and self.touch.source is None:
            self.touch.open()
        host.board.set_gate(self.id, self._admit)
        if self.has_control:
            self.link = self._make_link()
            try:
                await self._open_link()  # a port that cannot be opened: the supervisor retries
            except LinkClosed:
                if not self._wakes_by_lan:
                    raise
                self._asleep_off_lan()
            except ControlError as exc:
                self._control_lost(exc)
            else:
                await self._poll_once()
        else:
            self.set_status(Status.READY)  # a display only: the board is all there is to drive
        self._poller = asyncio.create_task(self._poll_loop(), name=f"poll-{self.id}")

    async def stop(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        if self.link is not None:
            with contextlib.suppress(Exception):
                await self.link.close()
        if self.touch is not None:
            self.touch.close()
        if self._host is not None:
            self.host.board.set_gate(self.id, None)
        if self.status in (Status.READY, Status.BUSY):
            self.set_status(Status.OFFLINE)  # a fault's reason stays visible while the supervisor retries

    async def _poll_loop(self) -> None:
        boards = self.host.board.connected(self.id)
        while True:
            await asyncio.sleep(self.opts.poll_s)
            if self.has_control:
                await self._poll_once()
            if self.host.board.connected(self.id) != boards:  # so the retained state says whether a board is up
                boards = self.host.board.connected(self.id)
                self.changed()

    async def _poll_once(self) -> None:
        """Read power (and input when awake); silence or a dead link makes the panel FAULT."""
        try:
            await self._read_power_and_input()
        except ControlError as exc:
            if self._wakes_by_lan and self._link_dropped(exc):
                # Going to sleep, such a panel drops the connection: see whether it still listens at all.
                try:
                    await self._read_power_and_input()
                except ControlError as again:
                    exc = again
                else:
                    self._responding()
                    return
            if exc.unreachable and self._wakes_by_lan:
                self._asleep_off_lan()
            else:
                self._control_lost(exc)
        else:
            self._responding()

    def _link_dropped(self, exc: ControlError) -> bool:
        return exc.silent and not exc.unreachable and not exc.secured and (
            self.link is None or not self.link.is_open)

    def _asleep_off_lan(self) -> None:
        """A Wake-on-LAN panel whose control port is closed: in standby, not broken."""
        self._set_power("standby")
        if self.status is not Status.READY:
            self.set_status(Status.READY)
            self.host.clear_alert(self, NOT_RESPONDING)

    async def _read_power_and_input(self) -> None:
        power = await self._query("power")
        self._set_power(str(power))
        if self.power in AWAKE and "input" in self._profile().commands:
            current = str(await self._query("input"))
            if current != self.input:
                self.input = current
                self.changed()

    async def _ensure_link(self) -> None:
        if self.link is None or not self.link.is_open:
            if self.link is not None:
                with contextlib.suppress(Exception):
                    await self.link.close()  # release the dead fd before opening the port again
            self.link = self._make_link()
            try:
                await self._open_link()
            except (LinkClosed, OSError) as exc:
                raise ControlError(str(exc), unreachable=True) from exc

    def _not_responding(self, reason: str) -> None:
        self.set_status(Status.FAULT, f"the panel does not answer on its control port: {reason}")
        self.host.alert(self, NOT_RESPONDING, "warning", Localized(
            kk=f"«{self.name}» панелі басқару портында жауап бермейді. Кабельді және қуатты тексеріңіз.",
            ru=f"Панель «{self.name}» не отвечает по порту управления. Проверьте кабель и питание.",
            en=f"Panel “{self.name}” does not answer on its control port. Check the cable and the power.",
        ))

    def _control_lost(self, exc: ControlError) -> None:
        """A silent panel, or one that wants a login we cannot give: FAULT with an alert that says which."""
        if not exc.secured:
            self._not_responding(str(exc))
            return
        self.set_status(Status.FAULT, str(exc))
        self.host.alert(self, SECURED_PROTOCOL, "warning", Localized(
            kk=f"«{self.name}» панелінде Samsung «Secured Protocol» қосулы: басқару TLS пен PIN-кодты талап етеді. "
               "Құрылғы жазбасына mdc_pin жазыңыз немесе панель мәзірінде Secured Protocol-ды өшіріңіз.",
            ru=f"На панели «{self.name}» включён Samsung «Secured Protocol»: управление требует TLS и PIN-код. "
               "Укажите mdc_pin в записи устройства или отключите Secured Protocol в меню панели.",
            en=f"Panel “{self.name}” has Samsung's Secured Protocol on: control needs TLS and a PIN. "
               "Set mdc_pin in its device entry, or switch Secured Protocol off in the panel's menu.",
        ))

    def _responding(self) -> None:
        self.last_contact = time.time()
        if self.status is not Status.READY:
            self.set_status(Status.READY)
            self.host.clear_alert(self, NOT_RESPONDING)
            self.host.clear_alert(self, SECURED_PROTOCOL)

    def _set_power(self, power: str) -> None:
        if power != self.power:
            self.power = power
            if power not in AWAKE:
                self.input = None  # a sleeping panel has no input to report
            self.changed()

    def _profile(self) -> Profile:
        if self.profile is None:
            raise RequestError("no_control", f"panel {self.id} has no control port (no port or host in its entry)")
        return self.profile

    # --- the wire ---------------------------------------------------------------------------------
    async def _exchange(self, what: What, value: Value | None) -> Value | None:
        """Send one read or write and wait for the reply that belongs to it."""
        assert self.codec is not None and self.profile is not None
        codec = self.codec
        request = codec.encode(what, value)
        writing = value is not None
        async with self._lock:
            await self._ensure_link()
            assert self.link is not None
            link = self.link
            self._buffer.clear()
            link.discard_input()
            heard = bytearray()  # everything that arrived, to tell line noise from silence
            try:
                await link.write(request)
                async with asyncio.timeout(self.profile.link.reply_timeout_s):
                    while True:
                        frame = codec.take_frame(self._buffer)
                        if frame is None:
                            chunk = await link.read_some()
                            heard += chunk
                            self._buffer += chunk
                            if MDC_TLS_BANNER in heard:
                                # It greets every connection so: the next try reconnects and sees
                                # whether Secured Protocol has been switched off meanwhile.
                                await link.close()
                                raise ControlError(
                                    "the display uses Samsung's Secured Protocol (it opened with MDCSTART<<TLS>>): "
                                    "set mdc_pin in its device entry to the PIN in its menu, or switch Secured "
                                    "Protocol off on the panel", secured=True)
                            continue
                        answer = codec.parse(what, writing, frame)
                        if not answer.matches:
                            continue
                        if not answer.ok:
                            raise ControlError(f"{_show(request)} refused: {answer.error}")
                        return answer.value
            except TimeoutError:
                said = f"; it sent only {_show(bytes(heard[-64:]))}" if heard else ""
                raise ControlError(
                    f"no reply to {_show(request)} within {self.profile.link.reply_timeout_s:g}s{said}",
                    silent=not heard) from None
            except LinkClosed as exc:
                raise ControlError(str(exc), silent=True) from exc

    async def _query(self, what: What) -> Value:
        value = await self._exchange(what, None)
        if value is None:
            raise ControlError(f"the panel's reply to reading {what} carried no value")
        return value

    async def _command(self, what: What, value: Value) -> None:
        """Write a setting; SMART echoes the new value, the binary families just acknowledge it."""
        if what != "power" and self.power not in (*AWAKE, "unknown"):
            raise RequestError("panel_standby", f"panel {self.id} is in {self.power}: switch it on first "
                                                "(power on), only power commands work in standby")
        try:
            await self._exchange(what, value)
        except ControlError as exc:
            if exc.silent:
                self._control_lost(exc)
            raise RequestError("panel_refused" if not exc.silent else "panel_not_responding",
                               f"{what}: {exc}") from None
        except ProfileError as exc:
            raise RequestError("invalid_arguments", str(exc)) from None
        self._responding()

    # --- state ------------------------------------------------------------------------------------
    def properties(self) -> dict[str, Property]:
        return {
            "power": Property("string", writable=True, description="on, standby, updating or unknown"),
            "input": Property("string", writable=True, description="the panel's current input"),
            "volume": Property("integer", unit="%", writable=True),
            "mute": Property("boolean", writable=True),
            "board_url": Property("string", description="the lesson board page to open on the panel"),
            "boards": Property("integer", description="lesson board pages connected now"),
            "touch": Property("object", description="the touchscreen: online, contacts, touching, touches"),
            "focus": Property("object", description='who holds the board: {"holder": "teacher"} or a device'),
        }

    def board_url(self) -> str:
        lang = f"&lang={self.opts.language}" if self.opts.language else ""
        return f"{self.host.http_base}/board?panel={self.id}{lang}"

    def state(self) -> dict[str, Any]:
        boards = 0
        board_url = ""
        if self._host is not None:
            board_url = self.board_url()
            with contextlib.suppress(Exception):
                boards = self.host.board.connected(self.id)
        return {
            "power": self.power,
            "input": self.input,
            "volume": self.volume,
            "mute": self.mute,
            "board_input": self.opts.input,
            "board_url": board_url,
            "boards": boards,
            "control": (self.link.path if self.link is not None else "") if self.has_control else "none",
            "profile": self.profile.name if self.profile else None,
            "shown": (self.last_shown or {}).get("kind"),
            "touch": self.touch.state() if self.touch is not None else None,
            "focus": self.focus_state(),
        }

    # --- actions ----------------------------------------------------------------------------------
    @action("power", PowerArgs, "Switch the panel on or to standby.")
    async def set_power(self, args: PowerArgs) -> dict[str, Any]:
        self._profile()
        if args.state == "on" and self._wakes_by_lan:
            try:
                await self._wake_on_lan()
            except ControlError as exc:
                raise RequestError("panel_not_responding", f"power: {exc}") from None
        await self._command("power", args.state)
        self._set_power(args.state)
        return {"power": self.power}

    @action("input", InputArgs, "Switch the panel to an input (hdmi1, hdmi2, ops1 …, as its profile names them).")
    async def set_input(self, args: InputArgs) -> dict[str, Any]:
        profile = self._profile()
        name = args.name.lower()
        if name not in profile.inputs:
            raise RequestError("unknown_input", f"{profile.name} has no input {args.name!r}; "
                                                f"it has: {', '.join(profile.inputs)}")
        await self._command("input", name)
        self.input = name
        self.changed()
        return {"input": name}

    @action("volume", VolumeArgs, "Set the panel's volume, 0-100.")
    async def set_volume(self, args: VolumeArgs) -> dict[str, Any]:
        self._profile()
        await self._command("volume", args.level)
        self.volume = args.level
        self.changed()
        return {"volume": args.level}

    @action("mute", MuteArgs, "Mute or unmute the panel's sound.")
    async def set_mute(self, args: MuteArgs) -> dict[str, Any]:
        self._profile()
        await self._command("mute", args.on)
        self.mute = args.on
        self.changed()
        return {"mute": args.on}

    @action("get", NoArgs, "Read power, input, volume and mute from the panel now.")
    async def get(self, _args: NoArgs) -> dict[str, Any]:
        profile = self._profile()
        try:
            await self._read_power_and_input()
            if self.power in AWAKE:
                if "volume" in profile.commands:
                    self.volume = int(await self._query("volume"))
                if "mute" in profile.commands:
                    self.mute = bool(await self._query("mute"))
        except ControlError as exc:
            if exc.silent:
                self._control_lost(exc)
            raise RequestError("panel_not_responding" if exc.silent else "panel_refused", str(exc)) from None
        self._responding()
        self.changed()
        return {k: self.state()[k] for k in ("power", "input", "volume", "mute")}

    @action("show", ShowArgs, "Show a capture, a live stream, a card or the blank screen on the lesson board: "
                              "wakes the panel and switches it to the board's input first.")
    async def show(self, args: ShowArgs) -> dict[str, Any]:
        result = await self._deliver(self._content(args))
        if self.focus != TEACHER:  # the teacher showing something takes the board back
            self.teacher_content = None
            self._set_focus(TEACHER)
        return result

    async def _deliver(self, content: dict[str, Any]) -> dict[str, Any]:
        steps: list[dict[str, Any]] = []
        if self.has_control:
            steps.append(await self._wake())
            steps.append(await self._switch_input())
        if steps and steps[0]["done"] == "switched on":
            await self._wait_for_board()
        try:
            ack = await self.host.board.show(self.id, content, self.opts.board_timeout_s)
        except RequestError as exc:
            raise RequestError(exc.code, f"step board: {exc.message}", {"step": "board", "done": steps}) from None
        steps.append({"step": "board", "done": "shown"})
        self.last_shown = content
        self.changed()
        self.host.emit(self, "shown", {"content": content, "steps": steps})
        return {"content": content, "steps": steps, "board": ack}

    # --- focus: who may replace the board ----------------------------------------------------------
    def focus_state(self) -> dict[str, Any]:
        if self.focus == TEACHER:
            return {"holder": TEACHER, "since": self.focus_since}
        device = self.host.device(self.focus) if self._host is not None else None
        return {"holder": self.focus, "kind": str(device.kind) if device else None,
                "name": device.name if device else self.focus, "since": self.focus_since}

    def _set_focus(self, holder: str) -> None:
        self.focus, self.focus_since = holder, now_iso()
        self.changed()
        self.host.emit(self, "focus", self.focus_state())

    @action("hand", HandArgs, "Hand the board to a device (a globe, a tablet's ink, a touch table): what it sends "
                              "replaces the board until `take_back` or the teacher's next `show`.")
    async def hand(self, args: HandArgs) -> dict[str, Any]:
        device = self.host.device(args.device)
        if device is None:
            raise RequestError("unknown_device", f"no device {args.device!r} in this classroom")
        if device.kind not in HANDABLE:
            raise RequestError("invalid_arguments", f"{device.id} is a {device.kind}; the board can be handed to "
                                                    "a globe, a tablet or a touch table")
        own = device.focus_content() if isinstance(device, FocusSource) else None
        shown = ShowArgs.model_validate(own or {"card": {"type": "text", "title": device.name,
                                                         "text": HANDED_TEXT}})
        before = self.host.board.current(self.id) if self.focus == TEACHER else self.teacher_content
        result = await self._deliver(self._content(shown))  # a board that is not there: nothing changes
        if "attach" in device.actions() and device.snapshot().get("attached_panel") != self.id:
            await device.request("attach", {"panel": self.id})  # handed the board, its ink must reach it
        self.teacher_content = before
        self._set_focus(device.id)
        return {**result, "focus": self.focus_state()}

    @action("take_back", NoArgs, "Take the board back for the teacher: what the teacher showed before `hand` "
                                 "returns.")
    async def take_back(self, _args: NoArgs) -> dict[str, Any]:
        if self.focus == TEACHER:
            return {"focus": self.focus_state(), "content": self.host.board.current(self.id)}
        content = self.teacher_content or self._content(ShowArgs(clear=True))
        result = await self._deliver(content)
        self.teacher_content = None
        self._set_focus(TEACHER)
        return {**result, "focus": self.focus_state()}

    async def offer(self, device: Device, show: dict[str, Any], about: dict[str, str] | str) -> bool:
        """A device asks for the board: shown when it holds the focus, else a note in the board's corner.

        `about` is what the note says the device did (a country's names); False means not shown.
        """
        if self.focus != device.id:
            self.note(device, about)
            return False
        await self._deliver(self._content(ShowArgs.model_validate(show)))
        return True

    def note(self, device: Device | str, about: dict[str, str] | str) -> None:
        """A small note that passes by itself: the class sees the pupil's device is alive, the board stays."""
        source = device if isinstance(device, str) else device.id
        now = time.monotonic()
        said, when = self._noted.get(source, (None, float("-inf")))
        if self.opts.notes_s <= 0 or (said == about and now - when < NOTE_EVERY_S):
            return
        self._noted[source] = (about, now)
        self.host.board.send(self.id, {"type": "note", "source": source,
                                       "title": source if isinstance(device, str) else device.name,
                                       "text": about, "ttl_s": self.opts.notes_s})

    def _admit(self, message: dict[str, Any]) -> bool:
        """The board hub's gate: ink reaches the board from the holder, or from anyone over the teacher's content.

        A tablet drawing over the teacher's capture is part of the teacher's lesson, so it passes; over a
        device the board was handed to, another device's ink would be a takeover, so it becomes a note.
        """
        source = message.get("source")
        if message.get("type") != "ink" or not isinstance(source, str) or self.focus in (TEACHER, source):
            return True
        self.note(self.host.device(source) or source, DRAWING_TEXT)
        return False

    async def _wait_for_board(self) -> None:
        """A board in the panel's own browser connects only once the panel has woken up."""
        deadline = time.monotonic() + self.opts.board_timeout_s
        while self.host.board.connected(self.id) == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    def _content(self, args: ShowArgs) -> dict[str, Any]:
        lesson = self.host.lesson
        base: dict[str, Any] = {"panel": self.id, "lesson": lesson.id if lesson else None,
                                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if args.media is not None:
            item = self.host.media.get(args.media)
            if item is None:
                raise RequestError("unknown_media", f"no media {args.media!r} in this classroom's store",
                                   {"step": "content"})
            meta = item.meta
            return {**base, "kind": "media", "media": item.id, "url": item.url, "thumb_url": item.thumb_url,
                    "width": meta.get("width"), "height": meta.get("height"), "um_per_px": meta.get("um_per_px"),
                    "magnification": meta.get("magnification"), "device": meta.get("device"),
                    "caption": meta.get("caption") or "", "created": meta.get("created")}
        if args.stream is not None:
            scope = self.host.device(args.stream)
            if scope is None:
                raise RequestError("unknown_device", f"no device {args.stream!r} to stream from", {"step": "content"})
            if scope.kind != Kind.MICROSCOPE:
                raise RequestError("not_a_stream", f"{args.stream} is a {scope.kind}, not a microscope",
                                   {"step": "content"})
            return {**base, "kind": "stream", "device": scope.id, "name": scope.name,
                    "url": f"/devices/{scope.id}/stream"}
        if args.card is not None:
            return {**base, "kind": "card", "card": args.card}
        return {**base, "kind": "clear"}

    async def _wake_on_lan(self) -> bool:
        """Send the magic packet, then wait until the control port accepts; True if it had been closed."""
        assert self.opts.mac is not None and self.profile is not None
        timeout = self.profile.link.wake_timeout_s
        deadline = time.monotonic() + timeout
        sent_at: float | None = None
        was_closed = False
        while True:
            if sent_at is None or time.monotonic() - sent_at >= WOL_RESEND_S:  # again in case UDP lost it
                try:
                    await send_magic_packet(self.opts.mac, self.opts.wol_address, self.opts.wol_port)
                except OSError as exc:
                    raise ControlError(f"cannot send Wake-on-LAN to {self.opts.wol_address}: {exc}",
                                       unreachable=True) from exc
                sent_at = time.monotonic()
            try:
                async with self._lock:
                    await self._ensure_link()
                return was_closed
            except ControlError as exc:
                if not exc.unreachable:
                    raise
                was_closed = True
            if time.monotonic() > deadline:
                raise ControlError(f"sent Wake-on-LAN to {self.opts.mac} but its control port did not open "
                                   f"within {timeout:g}s", unreachable=True)
            await asyncio.sleep(0.3)

    async def _wake(self) -> dict[str, Any]:
        """Step power: make sure the panel is on, waiting for it to come up from standby.

        A panel with a MAC gets Wake-on-LAN first: asleep, it may not listen for the power command at all.
        """
        profile = self._profile()
        try:
            woken_by_lan = self._wakes_by_lan and await self._wake_on_lan()
            try:
                await self._read_power_and_input()
            except ControlError as exc:
                if not (self._wakes_by_lan and self._link_dropped(exc)):
                    raise
                woken_by_lan = await self._wake_on_lan()  # the old connection died as the panel fell asleep
                await self._read_power_and_input()
            if self.power in AWAKE:
                if woken_by_lan:
                    self._responding()
                    return {"step": "power", "done": "switched on", "via": "wake-on-lan"}
                return {"step": "power", "done": "already on"}
            await self._exchange("power", "on")
            deadline = time.monotonic() + profile.link.wake_timeout_s
            while True:
                with contextlib.suppress(ControlError):
                    self._set_power(str(await self._query("power")))
                    if self.power in AWAKE:
                        break
                if time.monotonic() > deadline:
                    raise ControlError(f"still {self.power} {profile.link.wake_timeout_s:g}s after power on")
                await asyncio.sleep(0.5)
        except ControlError as exc:
            if exc.silent:
                self._control_lost(exc)
            raise RequestError("panel_power_failed", f"step power: the panel did not switch on: {exc}",
                               {"step": "power"}) from None
        self._responding()
        return {"step": "power", "done": "switched on"}

    async def _switch_input(self) -> dict[str, Any]:
        """Step input: put the panel on the input the board is on."""
        wanted = self.opts.input.lower()
        if self.input == wanted:
            return {"step": "input", "done": f"already on {wanted}"}
        try:
            await self._exchange("input", wanted)
        except (ControlError, ProfileError) as exc:
            raise RequestError("panel_input_failed", f"step input: the panel did not switch to {wanted}: {exc}",
                               {"step": "input"}) from None
        self.input = wanted
        self.changed()
        return {"step": "input", "done": f"switched to {wanted}"}


def _show(data: bytes) -> str:
    """Bytes as a readable quote for error messages (ASCII protocols stay legible)."""
    if all(32 <= b < 127 or b in (9, 10, 13) for b in data):
        return repr(data.decode("ascii"))
    return data.hex(" ")
