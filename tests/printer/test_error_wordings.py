"""Firmwares word their errors differently: a refused line is never a halt, a real halt always is.

Every case runs the real driver against the simulated board over a pty; the board is told to
word its resend requests as the firmware in question does (issue #10, item 1).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from classroomd.devices.base import Priority
from classroomd.drivers.marlin import PrinterHalted, PrinterTimeout
from classroomd.drivers.marlin_protocol import ErrorKind, classify_error, parse_resend
from classroomd.simulators.marlin_firmware import MarlinSimulator
from tests.printer.support import connected, moves, simulator
from tests.printer.test_device import MakePrinter, finished, ran, upload
from tests.support.host import RecordingHost

#: Firmwares (and variants of their wording) whose refused lines must be sent again, not halted on.
#: `resend_error` is the one error line the board prints before every resend request.
REFUSALS = [
    pytest.param({"resend_error": "Error:checksum mismatch, Last Line: {last}"}, id="marlin2-checksum-mismatch"),
    pytest.param({"resend_error": "Error:No Checksum with line number, Last Line: {last}"},
                 id="marlin1.1-no-checksum"),
    pytest.param({"resend_error": "Error:Line Number is not Last Line Number+1, Last Line: {last}"},
                 id="marlin-line-number"),
    pytest.param({"resend_error": "Error:Missing checksum"}, id="missing-checksum"),
    pytest.param({"resend_error": "Error:expected line {expected} got {got}"}, id="expected-line"),
    pytest.param({"resend_error": "Error: checksum mismatch"}, id="spaced-checksum-mismatch"),
    pytest.param({"resend_error": "Error: format error"}, id="format-error"),
    pytest.param({"resend_error": "Error:Wrong checksum"}, id="wrong-checksum"),
    pytest.param({"resend_dialect": "marlin"}, id="dialect-marlin"),
    pytest.param({"resend_dialect": "repetier"}, id="dialect-repetier"),
    pytest.param({"resend_dialect": "octoprint"}, id="dialect-octoprint-virtual"),
    pytest.param({"resend_dialect": "smoothie", "ok_after_resend": False}, id="dialect-smoothie"),
    pytest.param({"resend_dialect": "reprapfirmware2", "ok_after_resend": False}, id="dialect-reprapfirmware2"),
    # Whatever its words, an error followed at once by a resend request is a refused line.
    pytest.param({"resend_error": "Error: something odd"}, id="unknown-wording"),
    pytest.param({"resend_error": "Error:Printer stopped reading line {got}"}, id="halt-words-then-resend"),
]

#: Real halt messages: each must still stop the print.
HALTS = [
    pytest.param("Error:Printer halted. kill() called!", "kill", id="marlin-kill"),
    pytest.param("Error:MINTEMP triggered, system stopped! Heater_ID: 0", "MINTEMP", id="marlin-mintemp"),
    pytest.param("Error:MAXTEMP triggered, system stopped! Heater_ID: bed", "MAXTEMP", id="marlin-maxtemp"),
    pytest.param("Error:Thermal Runaway, system stopped! Heater_ID: 0", "Thermal Runaway", id="marlin-runaway"),
    pytest.param("Error: Heating failed", "Heating failed", id="heating-failed"),
    pytest.param("Error:Printer stopped due to errors. Fix the error and use M999 to restart.", "stopped",
                 id="marlin-stopped"),
    pytest.param("!! Printer halted", "Printer halted", id="bang-bang"),
    pytest.param("fatal: Heater 0 failure", "fatal", id="fatal"),
]


@pytest.mark.parametrize("firmware", REFUSALS)
async def test_a_refused_line_in_any_wording_is_sent_again_and_the_print_goes_on(firmware: dict[str, Any]) -> None:
    async with simulator(**firmware) as sim, \
            connected(sim, timeout_s=10.0) as port:  # recovery must come from the resend requests, not a probe
        reported: list[str] = []
        port.on_firmware_error = reported.append
        first = port.next_line_number
        sim.corrupt_lines[first + 10] = 1  # refused for its checksum
        sim.lose_lines[first + 60] = 1     # the lines after it are refused for their numbers
        commands = moves(150)
        await asyncio.wait_for(port.stream(commands), 20)
        assert [c for n, c in sim.executed if n >= first] == commands  # exactly once, in order
        assert port.failure is None and not sim.halted and sim.stats.emergency_stops == 0
        assert sim.stats.checksum_errors >= 1 and sim.stats.line_number_errors >= 1
        assert port.stats.resend_requests >= 2 and port.stats.probes == 0
        wording = firmware.get("resend_error", "")
        if "odd" in wording or "Printer stopped" in wording:
            # Unknown words are reported once; the resend request that follows teaches them.
            assert len(reported) == 1 and reported[0] == wording[6:].strip().format(
                last=first + 9, expected=first + 10, got=first + 10)
        else:
            assert reported == []


@pytest.mark.parametrize(("message", "reason"), HALTS)
async def test_a_real_halt_message_still_stops_all_sending(message: str, reason: str) -> None:
    async with simulator(motion_scale=0.02) as sim, connected(sim) as port:
        first = port.next_line_number
        sim.at_line[first + 40] = f"say:{message}"
        with pytest.raises(PrinterHalted, match=reason):
            await asyncio.wait_for(port.stream(moves(5000)), 10)
        # Lines written just before the halt may still sit in the pty: let them arrive, then nothing more may.
        received = -1
        for _ in range(40):
            if sim.stats.bytes_received == received:
                break
            received = sim.stats.bytes_received
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        assert sim.stats.bytes_received == received  # the board still answers, but is sent nothing more
        assert len(sim.executed) < first + 5000


async def test_an_unknown_error_is_reported_and_the_print_goes_on() -> None:
    async with simulator() as sim, connected(sim) as port:
        reported: list[str] = []
        port.on_firmware_error = reported.append
        first = port.next_line_number
        sim.at_line[first + 20] = "say:Error: something odd"
        commands = moves(100)
        await asyncio.wait_for(port.stream(commands), 10)
        assert [c for n, c in sim.executed if n >= first] == commands
        assert reported == ["something odd"] and port.failure is None


async def test_an_unknown_error_then_silence_ends_in_a_time_out() -> None:
    async with simulator(motion_scale=0.02) as sim, \
            connected(sim, timeout_s=0.2, max_probes=1) as port:

        def fall_silent(_text: str) -> None:
            sim.frozen = True

        port.on_firmware_error = fall_silent
        sim.at_line[port.next_line_number + 20] = "say:Error: something odd"
        with pytest.raises(PrinterTimeout, match="stopped answering"):
            await asyncio.wait_for(port.stream(moves(500)), 10)


@pytest.mark.parametrize("resend_follows", [False, True], ids=["alone", "then-resend"])
async def test_an_unknown_error_mid_job_is_an_alert_event_and_the_job_finishes(
        make_printer: MakePrinter, host: RecordingHost, sim: MarlinSimulator, tmp_path: Path,
        resend_follows: bool) -> None:
    printer = await make_printer()
    assert printer.port is not None
    first = printer.port.next_line_number
    if resend_follows:
        sim.profile.resend_error = "Error: something odd"
        sim.corrupt_lines[first + 100] = 1
    else:
        sim.at_line[first + 100] = "say:Error: something odd"
    commands = moves(400)
    file_id = await upload(host, tmp_path, commands)
    reply = await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await finished(host)
    [done] = host.named("job_finished")
    assert done.data["job"]["outcome"] == "finished" and ran(sim, commands) == commands
    [event] = host.named("printer_error")
    assert event.data["text"] == "something odd" and event.data["job_id"] == reply["job"]["id"]
    assert "something odd" in event.data["message"]["en"] and event.priority is Priority.ALERT
    assert ("printer-1", "printer_halted") not in host.alerts
    assert sim.stats.emergency_stops == 0 and not host.named("job_failed")


@pytest.mark.parametrize(("line", "kind"), [
    ("Error:checksum mismatch, Last Line: 29", ErrorKind.DAMAGED),
    ("Error:No Checksum with line number, Last Line: 29", ErrorKind.DAMAGED),
    ("Error:No Line Number with checksum, Last Line: 29", ErrorKind.DAMAGED),
    ("Error:Line Number is not Last Line Number+1, Last Line: 29", ErrorKind.SEQUENCE),
    ("Error:Missing checksum", ErrorKind.DAMAGED),
    ("Error:expected line 30 got 31", ErrorKind.SEQUENCE),
    ("Error: checksum mismatch", ErrorKind.DAMAGED),
    ("Error: format error", ErrorKind.DAMAGED),
    ("Error:Format error", ErrorKind.DAMAGED),
    ("Error:Wrong checksum", ErrorKind.DAMAGED),
    ("Error: something odd", ErrorKind.UNKNOWN),
    ("Error:Printer halted. kill() called!", ErrorKind.HALT),
    ("Error:MINTEMP triggered, system stopped! Heater_ID: 0", ErrorKind.HALT),
    ("Error:Thermal Runaway, system stopped! Heater_ID: 0", ErrorKind.HALT),
    ("Error: Heating failed", ErrorKind.HALT),
    ("!! Printer halted", ErrorKind.HALT),
    ("!!", ErrorKind.HALT),
    ("fatal: Heater 0 failure", ErrorKind.HALT),
    ("Entering Alarm/Halt state", ErrorKind.HALT),
    ("echo: cold extrusion prevented", None),
    ("Error:cold extrusion prevented", ErrorKind.BENIGN),
    ("echo:busy: processing", None),
    ("ok N12 P15 B3", None),
    ("echo:Unknown command: \"M999 checksum mismatch\"", None),
])
def test_error_lines_are_classified_by_their_words(line: str, kind: ErrorKind | None) -> None:
    assert classify_error(line) is kind


@pytest.mark.parametrize(("line", "number"), [
    ("Resend: 30", 30), ("Resend:30", 30), ("rs N30", 30), ("rs 30", 30),
    ("rs  Checksum error on line 30", 30), ("Error:checksum mismatch, Last Line: 29", None), ("ok", None),
])
def test_resend_requests_are_read_in_every_wording(line: str, number: int | None) -> None:
    assert parse_resend(line) == number
