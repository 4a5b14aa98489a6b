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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from classroomd.devices.base import (
    DeviceHost,
    Kind,
    Localized,
    NoArgs,
    Property,
    RequestError,
    Status,
    action,
)
from classroomd.devices.panel_content import ShowArgs
from classroomd.devices.panel_control import ControlError, ControlPort, WakeTarget
from classroomd.devices.panel_focus import TEACHER, BoardFocus
from classroomd.devices.panel_touch import PanelTouch
from classroomd.drivers.panel_protocols import (
    Profile,
    ProfileError,
    Value,
    What,
    codec_for,
    load_profile,
)
from classroomd.drivers.serial_link import LinkClosed
from classroomd.drivers.wake_on_lan import BROADCAST, parse_mac

AWAKE = ("on",)
NOT_RESPONDING = "not_responding"
SECURED_PROTOCOL = "secured_protocol"

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




class PanelDevice(BoardFocus):
    kind = Kind.PANEL
    Options = PanelOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.options, PanelOptions)
        self.opts: PanelOptions = self.options
        self.profile: Profile | None = None
        self.port: ControlPort | None = None
        self.power: str = "unknown"
        self.input: str | None = None
        self.volume: int | None = None
        self.mute: bool | None = None
        self.last_shown: dict[str, Any] | None = None
        self.last_contact: float | None = None
        self._poller: asyncio.Task[None] | None = None
        self.touch = (PanelTouch(self.opts.touch, self.changed, lambda: self.host.retry_policy)
                      if self.opts.touch else None)
        self._profile_error: ProfileError | None = None
        cfg = self.config
        if cfg is not None and (cfg.port or cfg.host):
            try:
                self.profile = load_profile(cfg.profile or "")
            except ProfileError as exc:  # reported as the device's fault reason at start
                self._profile_error = exc
            else:
                wol = (WakeTarget(self.opts.mac, self.opts.wol_address, self.opts.wol_port)
                       if self.opts.mac else None)
                self.port = ControlPort(self.profile, codec_for(self.profile, self.opts.display_id), cfg,
                                        self.opts.mdc_pin, wol)
                self.info.vendor, self.info.model = self.profile.vendor, self.profile.model

    # --- lifecycle --------------------------------------------------------------------------------
    @property
    def has_control(self) -> bool:
        return self.port is not None or self._profile_error is not None

    @property
    def _control(self) -> ControlPort:
        if self.port is None:
            raise RequestError("no_control", f"panel {self.id} has no control port (no port or host in its entry)")
        return self.port

    @property
    def _wakes_by_lan(self) -> bool:
        return self.port is not None and self.port.wakes_by_lan

    async def start(self, host: DeviceHost) -> None:
        await super().start(host)
        if self._profile_error is not None:
            raise self._profile_error
        if self.touch is not None and self.touch.source is None:
            self.touch.open()
        host.board.set_gate(self.id, self._admit)
        if self.has_control:
            try:
                await self._control.connect()  # a port that cannot be opened: the supervisor retries
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
        if self.port is not None:
            await self.port.close()
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
            if self._wakes_by_lan and self._control.dropped(exc):
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

    def _asleep_off_lan(self) -> None:
        """A Wake-on-LAN panel whose control port is closed: in standby, not broken."""
        self._set_power("standby")
        if self.status is not Status.READY:
            self.set_status(Status.READY)
            self.host.clear_alert(self, NOT_RESPONDING)

    async def _read_power_and_input(self) -> None:
        power = await self._control.query("power")
        self._set_power(str(power))
        if self.power in AWAKE and "input" in self._profile().commands:
            current = str(await self._control.query("input"))
            if current != self.input:
                self.input = current
                self.changed()

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

    async def _command(self, what: What, value: Value) -> None:
        """Write a setting; SMART echoes the new value, the binary families just acknowledge it."""
        if what != "power" and self.power not in (*AWAKE, "unknown"):
            raise RequestError("panel_standby", f"panel {self.id} is in {self.power}: switch it on first "
                                                "(power on), only power commands work in standby")
        try:
            await self._control.exchange(what, value)
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
            "control": (self.port.path if self.port is not None else "") if self.has_control else "none",
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
                await self._control.wake_on_lan()
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
                    self.volume = int(await self._control.query("volume"))
                if "mute" in profile.commands:
                    self.mute = bool(await self._control.query("mute"))
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

    def _notes_s(self) -> float:
        return self.opts.notes_s

    async def _wait_for_board(self) -> None:
        """A board in the panel's own browser connects only once the panel has woken up."""
        deadline = time.monotonic() + self.opts.board_timeout_s
        while self.host.board.connected(self.id) == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    async def _wake(self) -> dict[str, Any]:
        """Step power: make sure the panel is on, waiting for it to come up from standby.

        A panel with a MAC gets Wake-on-LAN first: asleep, it may not listen for the power command at all.
        """
        profile = self._profile()
        try:
            woken_by_lan = self._wakes_by_lan and await self._control.wake_on_lan()
            try:
                await self._read_power_and_input()
            except ControlError as exc:
                if not (self._wakes_by_lan and self._control.dropped(exc)):
                    raise
                woken_by_lan = await self._control.wake_on_lan()  # the old connection died as the panel fell asleep
                await self._read_power_and_input()
            if self.power in AWAKE:
                if woken_by_lan:
                    self._responding()
                    return {"step": "power", "done": "switched on", "via": "wake-on-lan"}
                return {"step": "power", "done": "already on"}
            await self._control.exchange("power", "on")
            deadline = time.monotonic() + profile.link.wake_timeout_s
            while True:
                with contextlib.suppress(ControlError):
                    self._set_power(str(await self._control.query("power")))
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
            await self._control.exchange("input", wanted)
        except (ControlError, ProfileError) as exc:
            raise RequestError("panel_input_failed", f"step input: the panel did not switch to {wanted}: {exc}",
                               {"step": "input"}) from None
        self.input = wanted
        self.changed()
        return {"step": "input", "done": f"switched to {wanted}"}

