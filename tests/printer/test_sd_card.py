"""Printing from the printer's SD card: upload byte for byte, print, pause, cancel, refusals, re-attach."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from classroomd.devices.printer import PrinterDevice
from classroomd.devices.printer_sd import choose_source
from classroomd.drivers.marlin_protocol import FirmwareInfo
from classroomd.drivers.marlin_sd import card_name, card_offsets
from classroomd.services.print_jobs import Gcode, JobStore, PrintJob, scan_gcode
from classroomd.simulators.marlin_firmware import MarlinSimulator
from tests.printer.support import moves, printer_config, profile, write_gcode
from tests.printer.test_device import finished, upload
from tests.support.host import RecordingHost

COMMANDS = ["M140 S60", "M104 S210", "G28", "M190 S60", "M109 S210", *moves(300), "M104 S0", "M140 S0"]
#: The same with a pause every 10 moves: about six seconds on the card, time to act during it even
#: on a loaded machine.
SLOW = [c for i, move in enumerate(COMMANDS) for c in ([move, "G4 P200"] if i % 10 == 9 else [move])]


def card_bytes(commands: list[str]) -> bytes:
    """What Marlin's M28 writes: each command as sent, then CR LF."""
    return b"".join(c.encode() + b"\r\n" for c in commands)


@pytest.fixture
async def board() -> AsyncIterator[MarlinSimulator]:
    sim = MarlinSimulator(profile(motion_scale=0.0, heat_rate_c_s=200.0))
    await sim.start()
    yield sim
    await sim.close()


@pytest.fixture
async def card_printer(board: MarlinSimulator, host: RecordingHost) -> AsyncIterator[Callable[..., Any]]:
    printers: list[PrinterDevice] = []

    async def make(**options: Any) -> PrinterDevice:
        printer = PrinterDevice.from_config(printer_config(board, print_from="sd", sd_poll_s=0.05, **options))
        await printer.start(host)
        printers.append(printer)
        return printer

    yield make
    for printer in printers:
        await printer.stop()


async def test_a_job_goes_to_the_card_byte_for_byte_and_prints_from_it(
        card_printer: Callable[..., Any], board: MarlinSimulator, host: RecordingHost, tmp_path: Path) -> None:
    board.card.files["OWL.GCO"] = bytearray(b"G28\r\n")  # someone's file: never overwritten
    printer = await card_printer()
    file_id = await upload(host, tmp_path, COMMANDS, name="owl.gcode")
    reply = await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    assert reply["job"]["print_from"] == "sd"
    await finished(host)
    [event] = host.named("job_finished")
    job = event.data["job"]
    assert job["print_from"] == "sd" and job["printer_file"] == "OWL~1.GCO" and job["outcome"] == "finished"
    assert bytes(board.card.files["OWL~1.GCO"]) == card_bytes(COMMANDS)
    assert board.card.files["OWL.GCO"] == b"G28\r\n"
    assert board.sd_executed == COMMANDS, "the printer ran the file from its card"
    assert not [c for _, c in board.executed if c.startswith("G1 ")], "no move was streamed"
    phases = {e.data["phase"] for e in host.named("progress")}
    assert phases == {"upload", "print"}
    history = await printer.request("history", {})
    assert [j["id"] for j in history["jobs"]] == [job["id"]]


async def test_a_full_card_refuses_the_job_and_nothing_starts(
        card_printer: Callable[..., Any], board: MarlinSimulator, host: RecordingHost, tmp_path: Path) -> None:
    board.card.capacity = 2000
    printer = await card_printer()
    file_id = await upload(host, tmp_path, COMMANDS)
    await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await finished(host)
    [event] = host.named("job_failed")
    assert event.data["code"] == "card_full" and "full" in event.data["message"]["en"]
    assert "толы" in event.data["message"]["kk"] and "заполнена" in event.data["message"]["ru"]
    assert event.data["job"]["outcome"] == "failed" and event.data["job"]["printer_file"] == ""
    assert board.card.files == {}, "the partial file was deleted"
    assert board.sd_executed == [] and not board.reader.printing
    assert printer.snapshot()["status"] == "ready"


async def test_no_card_is_a_clear_refusal(host: RecordingHost, tmp_path: Path) -> None:
    sim = MarlinSimulator(profile(motion_scale=0.0, sd_present=False))
    await sim.start()
    printer = PrinterDevice.from_config(printer_config(sim, print_from="sd"))
    try:
        await printer.start(host)
        file_id = await upload(host, tmp_path, COMMANDS)
        await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
        await finished(host)
        [event] = host.named("job_failed")
        assert event.data["code"] == "no_card" and "SD" in event.data["message"]["ru"]
        assert sim.sd_executed == [] and not [c for _, c in sim.executed if c.startswith("G1 ")]
    finally:
        await printer.stop()
        await sim.close()


async def test_pause_resume_and_cancel_use_the_firmwares_card_commands(
        card_printer: Callable[..., Any], board: MarlinSimulator, host: RecordingHost, tmp_path: Path) -> None:
    printer = await card_printer()
    file_id = await upload(host, tmp_path, SLOW)
    await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await host.wait_for(lambda: board.reader.printing and len(board.sd_executed) > 20, 20)
    await printer.request("pause", {})
    assert not board.reader.printing and printer.snapshot()["paused"] is True
    held = len(board.sd_executed)
    await asyncio.sleep(0.5)
    assert len(board.sd_executed) <= held + board.profile.bufsize
    await printer.request("resume", {})
    assert board.reader.printing
    await printer.request("cancel", {})
    await finished(host)
    [event] = host.named("job_cancelled")
    assert event.data["job"]["outcome"] == "cancelled"
    assert board.reader.selected is None and not board.reader.printing, "M524 closed the file"
    assert len(board.sd_executed) < len(SLOW)
    assert board.hotend.target == 0


async def test_a_restarted_device_reattaches_to_the_card_print_and_records_its_end(
        board: MarlinSimulator, host: RecordingHost, tmp_path: Path) -> None:
    board.profile.reset_on_open = False  # a native-USB board: opening the port does not reset it
    file_id = await upload(host, tmp_path, SLOW)
    first = PrinterDevice.from_config(printer_config(board, print_from="sd", sd_poll_s=0.05))
    await first.start(host)
    await first.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await host.wait_for(lambda: len(board.sd_executed) > 20, 20)
    await first.stop()
    assert board.reader.printing and not host.named("job_finished"), "the printer goes on without the daemon"
    second = PrinterDevice.from_config(printer_config(board, print_from="sd", sd_poll_s=0.05))
    try:
        await second.start(host)
        assert host.named("job_reattached") and second.running is not None
        await finished(host)
        [event] = host.named("job_finished")
        assert event.data["job"]["printer_file"] and board.sd_executed == SLOW
        history = await second.request("history", {})
        assert [j["outcome"] for j in history["jobs"]] == ["finished"]
        assert not host.named("job_failed")
    finally:
        await second.stop()


async def test_a_board_that_resets_when_its_port_opens_loses_the_card_print_and_the_record_says_why(
        board: MarlinSimulator, host: RecordingHost, tmp_path: Path) -> None:
    file_id = await upload(host, tmp_path, SLOW)
    first = PrinterDevice.from_config(printer_config(board, print_from="sd", sd_poll_s=0.05))
    await first.start(host)
    await first.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await host.wait_for(lambda: len(board.sd_executed) > 20, 20)
    await first.stop()
    await host.wait_for(lambda: not board.host_connected, 5)  # as when a daemon restarts: the port was closed
    second = PrinterDevice.from_config(printer_config(board, print_from="sd"))
    try:
        await second.start(host)  # an 8-bit board: opening the port resets it, as DTR does
        [event] = host.named("job_failed")
        assert event.data["job"]["outcome"] == "interrupted" and "restarted when its port was opened" in \
            event.data["job"]["reason"]
        assert not host.named("job_reattached") and second.running is None
    finally:
        await second.stop()


def test_card_names_are_8_3_and_never_collide() -> None:
    assert card_name("owl.gcode", []) == "OWL.GCO"
    assert card_name("Modul 3 - gear box.gcode", []) == "MODUL3-G.GCO"
    assert card_name("үкі.gcode", []) == "PRINT.GCO"
    assert card_name("owl.gcode", ["OWL.GCO", "OWL~1.GCO"]) == "OWL~2.GCO"
    assert card_name("longername.gcode", ["LONGERNA.GCO"]) == "LONGER~1.GCO"
    assert card_offsets(["G28", "G1 X1"]) == [5, 12]


def test_auto_takes_the_card_for_jobs_that_outlast_the_lesson(tmp_path: Path) -> None:
    sd = FirmwareInfo(caps={"SDCARD": True})
    long_job = scan_gcode(write_gcode(tmp_path / "long.gcode", ["M73 P0 R95", "G28"]))
    short_job = scan_gcode(write_gcode(tmp_path / "short.gcode", ["G28"], header=";TIME:600\n"))
    unknown: Gcode = scan_gcode(write_gcode(tmp_path / "unknown.gcode", ["G28"]))
    assert long_job.estimate_s == 95 * 60 and short_job.estimate_s == 600 and unknown.estimate_s is None
    assert choose_source("auto", sd, long_job, 30, None) == "sd"
    assert choose_source("auto", sd, short_job, 30, None) == "stream"
    assert choose_source("auto", sd, short_job, 30, 300) == "sd", "ten minutes, five left in the lesson"
    assert choose_source("auto", sd, unknown, 30, 60) == "stream"
    assert choose_source("auto", FirmwareInfo(), long_job, 30, None) == "stream"
    assert choose_source("stream", sd, long_job, 30, None) == "stream"


def test_a_job_file_from_before_card_printing_gains_the_new_columns(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "print-jobs.sqlite3")
    db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, printer TEXT NOT NULL, file_id TEXT, file_name TEXT, "
               "sha256 TEXT, lesson_id TEXT, teacher TEXT, subject TEXT, state TEXT NOT NULL, reason TEXT, "
               "created TEXT, started TEXT, ended TEXT, lines_total INTEGER, lines_sent INTEGER, "
               "lines_resent INTEGER, progress REAL, seq INTEGER)")
    db.execute("INSERT INTO jobs (id, printer, file_id, file_name, state, seq) VALUES "
               "('job-old', 'printer-1', 'f', 'old.gcode', 'finished', 1)")
    db.commit()
    db.close()
    store = JobStore(tmp_path / "print-jobs.sqlite3")
    try:
        [old] = store.history("printer-1")
        assert (old.print_from, old.printer_file) == ("stream", "")
        store.add(PrintJob(id="job-new", printer="printer-1", file_id="g", file_name="new.gcode", print_from="sd"))
        new = store.get("job-new")
        assert new is not None and (new.print_from, new.file_name) == ("sd", "new.gcode")
    finally:
        store.close()
