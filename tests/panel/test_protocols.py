"""Each codec against the bytes printed in the vendors' manuals."""

from __future__ import annotations

import pytest

from classroomd.drivers.panel_protocols import (
    ProfileError,
    available_profiles,
    codec_for,
    load_profile,
    mdc_checksum,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_every_family_ships_a_profile_with_the_four_settings() -> None:
    assert {"smart-6000", "viewsonic", "benq", "lg", "samsung-mdc"} <= set(available_profiles())
    for name in available_profiles():
        profile = load_profile(name)
        assert set(profile.commands) == {"power", "input", "volume", "mute"}, name
        assert "hdmi1" in profile.inputs, name
    assert load_profile("smart-6000").link.baud == 19200
    assert load_profile("viewsonic").link.tcp_port == 5000
    assert load_profile("benq").link.tcp_port == 4660
    assert load_profile("samsung-mdc").link.tcp_port == 1515


def test_unknown_profile_names_the_ones_there_are() -> None:
    with pytest.raises(ProfileError, match="smart-6000"):
        load_profile("smart-9000")
    with pytest.raises(ProfileError):
        load_profile("../schema")


# --- SMART ------------------------------------------------------------------------------------------
def test_smart_encodes_get_and_set_lines() -> None:
    c = codec_for(load_profile("smart-6000"))
    assert c.encode("power") == b"get powerstate\r"
    assert c.encode("power", "on") == b"set powerstate=on\r"
    assert c.encode("power", "standby") == b"set powerstate=standby\r"
    assert c.encode("input", "HDMI1") == b"set input=hdmi1\r"
    assert c.encode("volume", 65) == b"set volume=65\r"
    assert c.encode("mute", True) == b"set mute=on\r"
    assert c.encode("mute") == b"get mute\r"
    with pytest.raises(ProfileError, match="hdmi9"):
        c.encode("input", "hdmi9")
    with pytest.raises(ProfileError):
        c.encode("volume", 101)


def test_smart_parses_replies_up_to_the_prompt_in_pieces() -> None:
    c = codec_for(load_profile("smart-6000"))
    buffer = bytearray(b"powerstate=rea")
    assert c.take_frame(buffer) is None
    buffer += b"dy\r\n>input=HDMI2\r\n>"
    first = c.take_frame(buffer)
    assert first is not None and c.parse("power", False, first).value == "on"  # READY counts as awake
    second = c.take_frame(buffer)
    assert second is not None and c.parse("input", False, second).value == "hdmi2"
    assert c.take_frame(buffer) is None and not buffer
    assert c.parse("power", False, b"powerstate=standby\r\n").value == "standby"
    assert c.parse("power", False, b"powerstate=powersave\r\n").value == "standby"
    assert c.parse("power", False, b"POWERSTATE=UPDATEON\r\n").value == "updating"
    assert c.parse("volume", False, b"volume=65\r\n").value == 65
    assert c.parse("mute", False, b"mute=off\r\n").value is False
    refused = c.parse("input", True, b"invalid cmd: set input=hdmi1\r\n")
    assert refused.matches and not refused.ok and "invalid cmd" in refused.error
    assert not c.parse("power", False, b"\r\n").matches  # a bare prompt
    assert not c.parse("power", False, b"volume=3\r\n").matches  # a late reply to something else
    garbled = c.parse("volume", False, b"volume=loud\r\n")
    assert garbled.matches and not garbled.ok


# --- ViewSonic / BenQ -------------------------------------------------------------------------------
def test_nine_byte_frames_match_the_viewsonic_manual() -> None:
    c = codec_for(load_profile("viewsonic"))
    assert c.encode("power", "on") == h("38 30 31 73 21 30 30 31 0D")
    assert c.encode("power", "standby") == h("38 30 31 73 21 30 30 30 0D")
    assert c.encode("input", "hdmi1") == h("38 30 31 73 22 30 30 34 0D")
    assert c.encode("input", "android") == h("38 30 31 73 22 30 30 41 0D")  # "00A"
    assert c.encode("volume", 65) == h("38 30 31 73 35 30 36 35 0D")
    assert c.encode("mute", True) == h("38 30 31 73 36 30 30 31 0D")
    assert c.encode("power") == h("38 30 31 67 6C 30 30 30 0D")
    assert all(len(c.encode(w)) == 9 for w in ("power", "input", "volume", "mute"))


def test_nine_byte_replies_valid_invalid_and_get() -> None:
    c = codec_for(load_profile("viewsonic"), display_id=5)
    # The manual's example: display 05, a get answered "r" with value 067.
    assert c.encode("volume") == h("38 30 35 67 66 30 30 30 0D")
    buffer = bytearray(h("38 30 35 72 66 30 36 37 0D 34 30 35 2B 0D 34 30 35 2D 0D"))
    get, ok, bad = c.take_frame(buffer), c.take_frame(buffer), c.take_frame(buffer)
    assert get is not None and ok is not None and bad is not None
    assert c.parse("volume", False, get).value == 67
    assert c.parse("power", True, ok).ok
    refused = c.parse("power", True, bad)
    assert refused.matches and not refused.ok
    assert not c.parse("volume", False, h("34 30 31 2B")).matches  # another display's reply
    assert not c.parse("volume", False, b"\x00\xffgarbage").matches
    assert c.parse("power", False, h("38 30 35 72 6C 30 30 30")).value == "standby"
    assert c.parse("input", False, h("38 30 35 72 6A 30 31 34")).value == "hdmi2"


def test_benq_is_the_same_family_on_its_own_port() -> None:
    c = codec_for(load_profile("benq"))
    assert c.encode("power", "on") == h("38 30 31 73 21 30 30 31 0D")
    assert load_profile("benq").family == load_profile("viewsonic").family == "nine-byte"


# --- LG ---------------------------------------------------------------------------------------------
def test_lg_commands_and_replies() -> None:
    c = codec_for(load_profile("lg"))
    assert c.encode("power", "on") == b"ka 01 01\r"
    assert c.encode("power", "standby") == b"ka 01 00\r"
    assert c.encode("power") == b"ka 01 FF\r"
    assert c.encode("volume", 50) == b"kf 01 32\r"  # hexadecimal data
    assert c.encode("input", "hdmi1") == b"xb 01 90\r"
    assert c.encode("mute", True) == b"ke 01 00\r"  # LG: 00 silences
    buffer = bytearray(b"a 01 OK01xa 01 NG01xb 01 OK91x")
    first, second, third = c.take_frame(buffer), c.take_frame(buffer), c.take_frame(buffer)
    assert first is not None and c.parse("power", False, first).value == "on"
    assert second is not None and not c.parse("power", True, second).ok
    assert third is not None and c.parse("input", False, third).value == "hdmi2"
    assert c.parse("volume", False, b"f 01 OK32").value == 50
    assert c.parse("mute", False, b"e 01 OK00").value is True
    assert not c.parse("power", False, b"f 01 OK32").matches
    assert not c.parse("power", False, b"a 02 OK01").matches  # set id 2 is someone else


# --- Samsung MDC ------------------------------------------------------------------------------------
def test_mdc_frames_and_checksum() -> None:
    c = codec_for(load_profile("samsung-mdc"))
    assert c.encode("power", "on") == h("AA 11 01 01 01 14")
    assert c.encode("power") == h("AA 11 01 00 12")
    assert codec_for(load_profile("samsung-mdc"), 0).encode("power", "on") == h("AA 11 00 01 01 13")
    assert codec_for(load_profile("samsung-mdc"), 0xFE).encode("power", "on") == h("AA 11 FE 01 01 11")
    assert c.encode("volume", 50) == h("AA 12 01 01 32 46")
    assert c.encode("input", "hdmi1") == h("AA 14 01 01 21 37")
    assert c.encode("mute", False) == h("AA 13 01 01 00 15")
    assert mdc_checksum(h("FF 01 03 41 11 01")) == 0x56


def test_mdc_replies_skip_noise_and_bad_checksums() -> None:
    c = codec_for(load_profile("samsung-mdc"))
    ack_on = h("AA FF 01 03 41 11 01 56")
    corrupt = h("AA FF 01 03 41 11 01 57")
    buffer = bytearray(b"\x00\x13" + corrupt + ack_on[:4])
    assert c.take_frame(buffer) is None  # waits for the rest of the good frame
    buffer += ack_on[4:]
    frame = c.take_frame(buffer)
    assert frame == ack_on and not buffer
    assert c.parse("power", False, frame).value == "on"
    nak = h("AA FF 01 03 4E 11 01 63")
    refused = c.parse("power", True, nak)
    assert refused.matches and not refused.ok and "NAK" in refused.error
    for reply, what, value in ((h("AA FF 01 03 41 14 23 7B"), "input", "hdmi2"),
                               (h("AA FF 01 03 41 14 24 7C"), "input", "hdmi2"),  # HDMI2_PC, read-only
                               (h("AA FF 01 03 41 12 32 88"), "volume", 50)):
        framed = c.take_frame(bytearray(reply))
        assert framed == reply and c.parse(what, False, framed).value == value  # type: ignore[arg-type]
    assert not c.parse("volume", False, ack_on).matches
