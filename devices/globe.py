"""Smart globes: a pen touch on a country becomes a `touched` event and, if
configured, that country's card on a panel's board.

The wire protocol is a profile (see `drivers/globe_protocol.py`); this module
only turns codes into countries, debounces a pen held in place, and keeps
the globe's usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from classroomd.devices.base import Device, Kind, NoArgs, Priority, Property, RequestError, Status, action
from classroomd.devices.countries import country_card, country_names
from classroomd.devices.panel import PanelDevice
from classroomd.devices.usage import UsageMeter
from classroomd.drivers.evdev_input import EV_KEY, EvdevSource, InputEvent
from classroomd.drivers.globe_protocol import GlobeProfile, ProfileError, load_profile
from classroomd.drivers.hidraw_link import HidrawLink
from classroomd.drivers.serial_link import LinkClosed, SerialLink, SerialSettings


class GlobeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: A panel whose board shows the touched country's card.
    panel: str | None = None
    #: The same region again within this many seconds is the pen resting, not a new touch.
    debounce_s: float = Field(1.0, ge=0)


class ShowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    iso: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2 code")


class GlobeDevice(Device):
    kind = Kind.GLOBE
    Options: ClassVar[type[BaseModel] | None] = GlobeOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.profile: GlobeProfile | None = None
        self.usage = UsageMeter()
        self.touches = 0
        self.unknown_codes = 0
        self.last_touch: dict[str, Any] | None = None
        self._last_code: tuple[int, float] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closers: list[Any] = []
        self._card_tasks: set[asyncio.Task[None]] = set()

    @property
    def opts(self) -> GlobeOptions:
        assert isinstance(self.options, GlobeOptions)
        return self.options

    async def start(self, host: Any) -> None:
        await super().start(host)
        try:
            self.profile = load_profile((self.config.profile if self.config else None) or "default")
        except ProfileError as exc:
            self.set_status(Status.FAULT, str(exc))
            return  # a broken profile is a config error: retrying would not help
        codes = await self._open()
        self.set_status(Status.READY)
        self._reader = asyncio.create_task(self._read(codes), name=f"globe-{self.id}")

    def _path(self) -> str:
        path = (self.config.port or self.config.source) if self.config else None
        if not path:
            raise LinkClosed(f"{self.id}: set `port` (serial/hidraw) or `source` (evdev) for the globe")
        return path

    async def _open(self) -> AsyncIterator[int]:
        profile = self.profile
        assert profile is not None
        path = self._path()
        if profile.transport == "serial":
            baud = (self.config.baud if self.config else None) or profile.baud
            link = SerialLink(path, SerialSettings(baud=baud))
            await link.open()
            self._closers.append(link.close)
            return self._serial_codes(link, profile)
        if profile.transport == "hidraw":
            assert profile.report_size is not None
            hid = HidrawLink(path, profile.report_size)
            await hid.open()
            self._closers.append(hid.close)
            return self._hid_codes(hid, profile)
        return self._key_codes(EvdevSource(path))

    async def _serial_codes(self, link: SerialLink, profile: GlobeProfile) -> AsyncIterator[int]:
        while True:
            line = (await link.readline(b"\n\r")).decode("ascii", "replace").strip()
            if line:
                code = profile.code_from_line(line)
                if code is not None:
                    yield code

    async def _hid_codes(self, hid: HidrawLink, profile: GlobeProfile) -> AsyncIterator[int]:
        while True:
            code = profile.code_from_report(await hid.read_report())
            if code is not None:
                yield code

    async def _key_codes(self, source: EvdevSource) -> AsyncIterator[int]:
        queue: asyncio.Queue[int | Exception] = asyncio.Queue()

        def on_events(batch: list[InputEvent]) -> None:
            for ev in batch:
                if ev.type == EV_KEY and ev.value == 1:
                    queue.put_nowait(ev.code)

        source.start(on_events, lambda reason: queue.put_nowait(LinkClosed(reason)))
        self._closers.append(self._sync_closer(source.close))
        while True:
            item = await queue.get()
            if isinstance(item, Exception):
                raise item
            yield item

    @staticmethod
    def _sync_closer(fn: Any) -> Any:
        async def close() -> None:
            fn()

        return close

    async def _read(self, codes: AsyncIterator[int]) -> None:
        try:
            async for code in codes:
                self.touched(code)
        except (LinkClosed, OSError) as exc:
            await self._close_transport()
            # The Supervisor reopens it when the globe is plugged back in.
            self.lost(str(exc) or "the globe went away")

    def touched(self, code: int) -> None:
        assert self.profile is not None
        now = time.monotonic()
        previous, self._last_code = self._last_code, (code, now)
        if previous is not None and previous[0] == code and now - previous[1] < self.opts.debounce_s:
            return
        lesson = self.host.lesson
        self.usage.mark(lesson.id if lesson else None)
        iso = self.profile.region(code)
        if iso is None:
            self.unknown_codes += 1
            self.log.warning("code %s is not in profile %r", self.profile.code_text(code), self.profile.name)
            self.host.emit(self, "unknown_region", {"code": self.profile.code_text(code)}, Priority.TELEMETRY)
            self.changed()
            return
        self.touches += 1
        self.last_touch = {"country": iso, "name": country_names(iso), "code": self.profile.code_text(code)}
        self.host.emit(self, "touched", {**self.last_touch, "lesson": lesson.id if lesson else None})
        self.changed()
        if self.opts.panel and self.host.board.connected(self.opts.panel):
            task = asyncio.create_task(self._show_on_panel(self.opts.panel, iso), name=f"globe-card-{self.id}")
            self._card_tasks.add(task)
            task.add_done_callback(self._card_tasks.discard)

    async def _show_on_panel(self, panel_id: str, iso: str) -> None:
        panel = self.host.device(panel_id)
        if not isinstance(panel, PanelDevice):
            self.log.warning("panel %s for country cards is not in this classroom", panel_id)
            return
        try:
            # The board is the teacher's: the card replaces it only once the teacher handed it to the globe.
            await panel.offer(self, {"card": country_card(iso)}, country_names(iso))
        except RequestError as exc:
            self.log.warning("country card for %s not shown on %s: %s", iso, panel_id, exc.message)

    async def _close_transport(self) -> None:
        closers, self._closers = self._closers, []
        for close in closers:
            with contextlib.suppress(Exception):
                await close()

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._close_transport()
        if self.status in (Status.READY, Status.BUSY):
            self.set_status(Status.OFFLINE)

    def focus_content(self) -> dict[str, Any] | None:
        """Handed the board, the globe shows the country last touched at once."""
        return {"card": country_card(self.last_touch["country"])} if self.last_touch else None

    # --- requests -------------------------------------------------------------
    @action("country", ShowArgs, "A country's card (names in kk/ru/en, flag, capital), as the board shows it.")
    async def country(self, args: ShowArgs) -> dict[str, Any]:
        try:
            return country_card(args.iso)
        except ValueError as exc:
            raise RequestError("invalid_arguments", str(exc)) from exc

    @action("regions", description="The profile's region table: code -> ISO country code.")
    async def regions(self, _args: NoArgs) -> dict[str, Any]:
        assert self.profile is not None
        return {"profile": self.profile.name, "regions": dict(self.profile.regions)}

    def properties(self) -> dict[str, Property]:
        return {
            "profile": Property("string"),
            "touches": Property("integer", description="country touches since start"),
            "last_touch": Property("object", description="country (ISO 3166 alpha-2), names in kk/ru/en, code"),
            "unknown_codes": Property("integer", description="codes missing from the profile's region table"),
            "active_min": Property("number", unit="min"),
        }

    def usage_report(self) -> dict[str, Any] | None:
        lesson = self._host.lesson if self._host is not None else None
        return {**self.usage.as_dict(lesson.id if lesson else None), "touches": self.touches}

    def state(self) -> dict[str, Any]:
        lesson = self._host.lesson if self._host is not None else None
        return {
            "profile": self.profile.name if self.profile else None,
            "touches": self.touches,
            "last_touch": self.last_touch,
            "unknown_codes": self.unknown_codes,
            **self.usage.as_dict(lesson.id if lesson else None),
        }
