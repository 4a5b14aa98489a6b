"""A panel's control port: its link (RS-232 or LAN), the login some displays want, Wake-on-LAN, and
one request at a time paired with the reply that belongs to it.

What the panel's answers mean for its status and alerts is the device's business (devices/panel.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from classroomd.config.schema import DeviceConfig
from classroomd.drivers.mdc_secured import MdcLoginRefused, log_in
from classroomd.drivers.panel_protocols import MDC_TLS_BANNER, Codec, Profile, ProfileError, Value, What
from classroomd.drivers.serial_link import LinkClosed, SerialLink, SerialSettings
from classroomd.drivers.tcp_link import TcpLink
from classroomd.drivers.wake_on_lan import send_magic_packet

#: How often the magic packet is sent again while waiting for a panel's control port (UDP may drop it).
WOL_RESEND_S = 5.0


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


@dataclass(frozen=True)
class WakeTarget:
    """Where a panel's magic packet goes."""

    mac: str
    address: str
    port: int


class ControlPort:
    def __init__(self, profile: Profile, codec: Codec, entry: DeviceConfig, mdc_pin: str | None,
                 wol: WakeTarget | None) -> None:
        self.profile, self.codec, self.entry = profile, codec, entry
        self.mdc_pin = mdc_pin
        self.wol = wol
        self.link: SerialLink | TcpLink | None = None
        self._buffer = bytearray()
        self._lock = asyncio.Lock()
        #: Set when the display refused our PIN: not retried (it blocks after a few wrong ones).
        self.login_refused: str | None = None

    @property
    def path(self) -> str:
        return self.link.path if self.link is not None else ""

    async def connect(self) -> None:
        """A fresh link, opened (and logged in where the display wants it)."""
        self.link = self.make_link()
        await self.open()

    async def close(self) -> None:
        if self.link is not None:
            with contextlib.suppress(Exception):
                await self.link.close()

    def make_link(self) -> SerialLink | TcpLink:
        cfg = self.entry
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
    def wakes_by_lan(self) -> bool:
        """A LAN-controlled panel with a MAC: asleep, it may be off the LAN, and Wake-on-LAN brings it back."""
        return self.wol is not None and bool(self.entry.host)

    async def open(self) -> None:
        """Open the control link, logging in first where the display wants Samsung's Secured Protocol."""
        assert self.link is not None
        if self.login_refused is not None:
            raise ControlError(self.login_refused, secured=True)
        await self.link.open()
        if isinstance(self.link, TcpLink) and self.profile.family == "mdc" and self.mdc_pin:
            try:
                await log_in(self.link, self.mdc_pin, self.profile.link.reply_timeout_s * 2)
            except MdcLoginRefused as exc:
                self.login_refused = f"{exc}; fix mdc_pin in the device entry and restart the daemon"
                await self.link.close()
                raise ControlError(self.login_refused, secured=True) from None

    async def ensure(self) -> None:
        if self.link is None or not self.link.is_open:
            if self.link is not None:
                with contextlib.suppress(Exception):
                    await self.link.close()  # release the dead fd before opening the port again
            self.link = self.make_link()
            try:
                await self.open()
            except (LinkClosed, OSError) as exc:
                raise ControlError(str(exc), unreachable=True) from exc

    def dropped(self, exc: ControlError) -> bool:
        return exc.silent and not exc.unreachable and not exc.secured and (
            self.link is None or not self.link.is_open)

    async def exchange(self, what: What, value: Value | None) -> Value | None:
        """Send one read or write and wait for the reply that belongs to it."""
        codec = self.codec
        request = codec.encode(what, value)
        writing = value is not None
        async with self._lock:
            await self.ensure()
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

    async def query(self, what: What) -> Value:
        value = await self.exchange(what, None)
        if value is None:
            raise ControlError(f"the panel's reply to reading {what} carried no value")
        return value

    async def wake_on_lan(self) -> bool:
        """Send the magic packet, then wait until the control port accepts; True if it had been closed."""
        assert self.wol is not None
        timeout = self.profile.link.wake_timeout_s
        deadline = time.monotonic() + timeout
        sent_at: float | None = None
        was_closed = False
        while True:
            if sent_at is None or time.monotonic() - sent_at >= WOL_RESEND_S:  # again in case UDP lost it
                try:
                    await send_magic_packet(self.wol.mac, self.wol.address, self.wol.port)
                except OSError as exc:
                    raise ControlError(f"cannot send Wake-on-LAN to {self.wol.address}: {exc}",
                                       unreachable=True) from exc
                sent_at = time.monotonic()
            try:
                async with self._lock:
                    await self.ensure()
                return was_closed
            except ControlError as exc:
                if not exc.unreachable:
                    raise
                was_closed = True
            if time.monotonic() > deadline:
                raise ControlError(f"sent Wake-on-LAN to {self.wol.mac} but its control port did not open "
                                   f"within {timeout:g}s", unreachable=True)
            await asyncio.sleep(0.3)


def _show(data: bytes) -> str:
    """Bytes as a readable quote for error messages (ASCII protocols stay legible)."""
    if all(32 <= b < 127 or b in (9, 10, 13) for b in data):
        return repr(data.decode("ascii"))
    return data.hex(" ")
