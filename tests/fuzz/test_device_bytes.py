"""Device bytes are input too: the Marlin reply parser and driver, the panel reply codecs, the globe's line
and report parsers and the evdev event handling, fed arbitrary and truncated byte streams."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from classroomd.drivers import marlin_protocol as mp
from classroomd.drivers.evdev_input import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    ABS_MT_SLOT,
    ABS_MT_TRACKING_ID,
    ABS_PRESSURE,
    ABS_X,
    ABS_Y,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    AbsRange,
    InputCaps,
    InputEvent,
    ReplaySource,
    write_recording,
)
from classroomd.drivers.globe_protocol import GlobeProfile, load_profile
from classroomd.drivers.marlin import MarlinError
from classroomd.drivers.panel_protocols import WHATS, available_profiles, codec_for
from classroomd.drivers.panel_protocols import load_profile as load_panel_profile
from tests.fuzz.conftest import CI_EXAMPLES
from tests.printer.support import connected, moves, simulator

#: A line as the Marlin driver sees it: bytes decoded as latin-1, so every byte value is a character.
LINE_BYTES = st.binary(max_size=120).filter(lambda b: b"\n" not in b)
#: Lines shaped like the firmware's, so the parser's branches are reached, mixed with noise.
MARLIN_WORDS = st.sampled_from(["ok", "ok N", "ok P", " B", "Resend:", "rs N", "rs ", "line ", "Error:", "!!",
                                "fatal:", "busy:", "start", "T:", " /", "B:", "FIRMWARE_NAME:", "Cap:", "echo:",
                                "Line Number is not Last Line Number+1", "checksum mismatch", "kill() called",
                                "9" * 5000, "-", ".", " ", "\x00", "\xff"])
MARLIN_LINE = st.one_of(LINE_BYTES.map(lambda b: b.decode("latin-1")),
                        st.lists(MARLIN_WORDS | st.integers(-10, 10**12).map(str), max_size=8).map("".join))


@given(line=MARLIN_LINE)
def test_marlin_reply_parsers_take_any_line(line: str) -> None:
    line = line.strip().strip("\x00")
    mp.classify_error(line)
    resend = mp.parse_resend(line)
    assert resend is None or 0 <= resend < 10**9
    mp.parse_temperatures(line)
    mp.parse_firmware_line(line, mp.FirmwareInfo())
    # what the driver does with an `ok`'s fields (drivers/marlin.py)
    assert all(int(v) < 10**9 for _k, v in mp.OK_FIELD_RE.findall(line))


def test_overlong_numbers_are_no_line_numbers() -> None:
    # Found by the fuzzer: a resend request or `ok N…` with more than 4,300 digits raised ValueError
    # from int() inside the driver's reader, which ended the reader task and froze the print.
    assert mp.parse_resend("Resend: " + "9" * 5000) is None
    assert mp.parse_resend("rs Checksum error on line " + "1" * 5000) is None
    assert mp.OK_FIELD_RE.findall("ok N" + "1" * 5000 + " P15 B3") == [("P", "15"), ("B", "3")]
    assert mp.parse_resend("Resend: 30") == 30 and mp.parse_resend("rs  Checksum error on line 30") == 30


@settings(max_examples=max(5, CI_EXAMPLES // 4))
@given(garbage=st.dictionaries(st.integers(1, 60), MARLIN_LINE.map(lambda t: t.replace("\r", "")), max_size=6),
       advanced=st.booleans())
def test_garbage_from_the_printer_never_runs_a_line_twice(garbage: dict[int, str], advanced: bool) -> None:
    """Garbage lines printed by the board between its replies: the job either runs exactly once, in order,
    or the driver stops with a reason; no line runs twice, and the reader never dies silently."""
    note(repr(garbage))

    async def run() -> None:
        async with simulator(advanced_ok=advanced) as sim, connected(sim, timeout_s=0.5, max_probes=3) as port:
            first = port.next_line_number
            sim.at_line.update({first + offset: f"say:{text}" for offset, text in garbage.items()})
            commands = moves(80)
            try:
                await asyncio.wait_for(port.stream(commands), 30)
            except MarlinError as exc:
                assert str(exc), "a fault without a reason"
            except TimeoutError:
                raise AssertionError(f"the print neither finished nor failed; reader alive: "
                                     f"{port._reader is not None and not port._reader.done()}") from None
            ran = [c for n, c in sim.executed if n >= first]
            assert ran == commands[: len(ran)], "a line ran twice or out of order"
            if port.failure is None:
                assert ran == commands

    asyncio.run(run())


# --- panels -------------------------------------------------------------------------------------------------
PANEL_PROFILES = available_profiles()


@pytest.mark.parametrize("name", PANEL_PROFILES)
@given(chunks=st.lists(st.binary(max_size=40) | st.sampled_from([b"\r", b">", b"x", b"\xaa\xff\x01\x03A", b"\n"]),
                       max_size=12),
       writing=st.booleans())
def test_panel_codecs_take_any_reply_bytes(name: str, chunks: list[bytes], writing: bool) -> None:
    profile = load_panel_profile(name)
    codec = codec_for(profile)
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        for _ in range(len(buffer) + 1):  # each frame taken shortens the buffer: this bounds the loop
            frame = codec.take_frame(buffer)
            if frame is None:
                break
            for what in WHATS:
                if what in profile.commands:
                    answer = codec.parse(what, writing, frame)
                    assert answer.matches or not answer.ok
        else:
            raise AssertionError("take_frame kept returning frames without consuming the buffer")


# --- globes -------------------------------------------------------------------------------------------------
SHIPPED_GLOBE = load_profile("default")
#: A profile as an installer may write one: the code group takes anything that is not a space.
LOOSE_GLOBE = GlobeProfile(name="loose", transport="serial", line=r"^T\s+(?P<code>\S+)", code_base=16,
                           regions={"01": "KZ"})
HID_GLOBE = GlobeProfile(name="hid", transport="hidraw", report_size=8, code_offset=2, code_bytes=2,
                         regions={"1": "KZ"}, code_base=10)


@given(raw=LINE_BYTES | st.lists(st.sampled_from(["T", "TOUCH", " ", "0", "A", "f", "g", "٣", "_", "-"]),
                                 max_size=10).map(lambda p: "".join(p).encode()))
def test_globe_lines_and_reports_never_raise(raw: bytes) -> None:
    for text in (raw.decode("ascii", "replace").strip(), raw.decode("utf-8", "replace").strip()):
        for profile in (SHIPPED_GLOBE, LOOSE_GLOBE):
            code = profile.code_from_line(text)
            if code is not None:
                profile.region(code)
                profile.code_text(code)
    code = HID_GLOBE.code_from_report(raw)
    assert code is None or code > 0
    if code is not None:
        HID_GLOBE.region(code)


def test_a_code_the_base_cannot_read_is_no_touch() -> None:
    # Found by the fuzzer: with a permissive line pattern, int() of the code raised ValueError out of the
    # globe's reader (the task ended, the globe stayed "ready" and deaf).
    assert LOOSE_GLOBE.code_from_line("T zz") is None
    assert LOOSE_GLOBE.code_from_line("T ٣") is None  # a digit to str.isdigit, not to a hexadecimal code
    assert LOOSE_GLOBE.code_from_line("T 01") == 1


# --- evdev --------------------------------------------------------------------------------------------------
CODES = st.sampled_from([ABS_X, ABS_Y, ABS_PRESSURE, ABS_MT_SLOT, ABS_MT_TRACKING_ID, ABS_MT_POSITION_X,
                         ABS_MT_POSITION_Y, 0, 3, 0x140, 0x141, 0x14A, 0x14B]) | st.integers(0, 0x2FF)
EVENTS = st.lists(st.builds(InputEvent, st.floats(0, 1e6), st.sampled_from([EV_SYN, EV_KEY, EV_ABS, 0x04, 0x1F]),
                            CODES, st.integers(-(2**31), 2**31 - 1)), max_size=60)
CAPS = st.builds(InputCaps, name=st.text(max_size=5),
                 abs=st.dictionaries(CODES, st.builds(AbsRange, st.integers(-(2**31), 2**31 - 1),
                                                      st.integers(-(2**31), 2**31 - 1), st.integers(0, 100)),
                                     max_size=6))


@given(caps=CAPS, events=EVENTS, cut=st.integers(0, 60))
def test_input_trackers_take_any_event_stream(caps: InputCaps, events: list[InputEvent], cut: int) -> None:
    from classroomd.devices.input_tracking import MultiTouchTracker, PenTracker

    pen, touch = PenTracker(caps), MultiTouchTracker(caps)
    for batch in (events[:cut], events[cut:]):  # a batch cut anywhere, as a short read cuts it
        for sample in pen.feed(batch):
            assert 0.0 <= sample.x <= 1.0 and 0.0 <= sample.y <= 1.0 and 0.0 <= sample.pressure <= 1.0
        for frame in touch.feed(batch):
            assert all(0.0 <= c.x <= 1.0 and 0.0 <= c.y <= 1.0 for c in frame.contacts.values())
    caps.aspect()


async def test_an_event_handler_that_fails_ends_the_source_with_a_reason(tmp_path: Path) -> None:
    # The reader must not die quietly when a batch cannot be handled: the device learns why, and the
    # Supervisor's one recovery policy takes over (a device calls lost(reason) from on_gone).
    path = tmp_path / "rec.json"
    write_recording(path, InputCaps(name="t"), [(0.0, EV_KEY, 0x14A, 1), (0.0, EV_SYN, 0, 0)])
    source = ReplaySource(path)
    gone: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def explode(_batch: list[InputEvent]) -> None:
        raise ValueError("a tracker bug")

    source.start(explode, gone.set_result)
    reason = await asyncio.wait_for(gone, 5)
    assert "a tracker bug" in reason
    source.close()
