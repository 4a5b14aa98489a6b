"""The printer device: jobs, queue, safety, over the real driver and the simulated board."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from classroomd.devices.base import RequestError, Status
from classroomd.devices.printer import PrinterDevice
from classroomd.services.print_jobs import JobStore, PrintJob
from classroomd.simulators.marlin_firmware import MarlinSimulator
from tests.printer.support import moves, printer_config, profile, write_gcode
from tests.support.host import RecordingHost

MakePrinter = Callable[..., Any]


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 4096):
        yield data[i:i + 4096]


async def upload(host: RecordingHost, tmp_path: Path, commands: list[str], name: str = "part.gcode") -> str:
    path = write_gcode(tmp_path / name, commands)
    item = await host.uploads.save_stream(name, _chunks(path.read_bytes()), 10**8)
    return str(item.id)


def ran(sim: MarlinSimulator, commands: list[str]) -> list[str]:
    """The tail of the board's executed log that the job produced."""
    texts = [c for _, c in sim.executed]
    for start in range(len(texts)):
        if texts[start:start + 3] == commands[:3]:
            return texts[start:start + len(commands)]
    return []


async def finished(host: RecordingHost, count: int = 1, timeout: float = 20) -> None:
    ends = ("job_finished", "job_failed", "job_cancelled")
    await host.wait_for(lambda: sum(len(host.named(n)) for n in ends) >= count, timeout)


async def test_a_lesson_print_runs_to_the_end_with_its_record(make_printer: MakePrinter, host: RecordingHost,
                                                              sim: MarlinSimulator, tmp_path: Path) -> None:
    printer = await make_printer()
    commands = ["M140 S60", "M104 S210", "G28", "M190 S60", "M109 S210", *moves(400), "M73 P100 R0", "M104 S0"]
    file_id = await upload(host, tmp_path, commands)
    reply = await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    assert reply["started"] is True and reply["job"]["lesson_id"] == "lesson-7"
    await finished(host)
    assert ran(sim, commands) == commands
    [event] = host.named("job_finished")
    job = event.data["job"]
    assert job["outcome"] == "finished" and job["teacher"] == "Айгүл Серікқызы" and job["subject"] == "Физика"
    assert job["lines_total"] == job["lines_sent"] == len(commands) and job["lines_resent"] == 0
    assert job["started"] and job["ended"] and job["progress"] == 100.0
    assert host.named("job_started") and host.named("progress")
    history = await printer.request("history", {})
    assert [j["id"] for j in history["jobs"]] == [job["id"]] and history["jobs"][0]["outcome"] == "finished"
    state = printer.snapshot()
    assert state["job"] is None and state["status"] == "ready"
    assert state["temperatures"]["hotend"]["target"] == 210


@pytest.mark.parametrize(("args", "code"), [
    ({"confirm_bed_clear": False}, "bed_clear_not_confirmed"),
    ({}, "bed_clear_not_confirmed"),
    ({"confirm_bed_clear": True, "file_id": "0123456789abcdef0123"}, "unknown_file"),
    ({"confirm_bed_clear": True, "file_id": "../../etc/passwd"}, "unknown_file"),
    ({"confirm_bed_clear": "yes please", "file_id": "x"}, "invalid_arguments"),
    ({"confirm_bed_clear": True, "file_id": "x", "speed": 2}, "invalid_arguments"),
])
async def test_print_requests_are_checked(make_printer: MakePrinter, host: RecordingHost, tmp_path: Path,
                                          args: dict[str, Any], code: str) -> None:
    printer = await make_printer()
    file_id = await upload(host, tmp_path, moves(10))
    with pytest.raises(RequestError) as refused:
        await printer.request("print", {"file_id": file_id, **args})
    assert refused.value.code == code
    assert (await printer.request("queue", {}))["jobs"] == [] and printer.running is None


@pytest.mark.parametrize(("line", "limit"), [("M104 S300", "nozzle"), ("M190 S125", "bed"), ("M109 R290", "nozzle")])
async def test_a_file_over_the_temperature_limits_is_refused_before_it_starts(
        make_printer: MakePrinter, host: RecordingHost, sim: MarlinSimulator, tmp_path: Path,
        line: str, limit: str) -> None:
    printer = await make_printer(max_hotend_c=280, max_bed_c=110)
    executed = len(sim.executed)
    file_id = await upload(host, tmp_path, [*moves(50), line, *moves(5)])
    with pytest.raises(RequestError, match=limit) as refused:
        await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    assert refused.value.code == "temperature_limit"
    assert len(sim.executed) == executed and not host.named("job_started")


async def test_a_halt_mid_job_fails_the_job_raises_an_alert_and_applies_the_halt_policy(
        make_printer: MakePrinter, host: RecordingHost, sim: MarlinSimulator, tmp_path: Path) -> None:
    printer = await make_printer()
    sim.profile.motion_scale = 0.05
    commands = moves(3000)
    file_id = await upload(host, tmp_path, commands)
    await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await host.wait_for(lambda: len(sim.executed) > 200)
    sim.thermal_runaway()
    await finished(host)
    [event] = host.named("job_failed")
    assert event.data["job"]["outcome"] == "failed" and "Thermal Runaway" in event.data["job"]["reason"]
    severity, message = host.alerts[("printer-1", "printer_halted")]
    assert severity == "critical" and "Thermal Runaway" in message.en
    assert message.kk.startswith("Принтер") and message.ru.startswith("Принтер")
    await host.wait_for(lambda: b"M140 S0" in sim.after_halt)
    assert sim.after_halt.index(b"M112") < sim.after_halt.index(b"M104 S0")  # policy: M112, then heaters off
    assert printer.status is Status.FAULT and "Thermal Runaway" in printer.reason
    with pytest.raises(RequestError) as refused:
        await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    assert refused.value.code == "printer_not_ready"
    await printer.request("reconnect", {})
    assert printer.status is Status.READY and ("printer-1", "printer_halted") not in host.alerts


async def test_a_board_reset_mid_job_interrupts_it_and_the_printer_comes_back(
        make_printer: MakePrinter, host: RecordingHost, sim: MarlinSimulator, tmp_path: Path) -> None:
    printer = await make_printer()
    sim.profile.motion_scale = 0.02
    file_id = await upload(host, tmp_path, moves(2000))
    reply = await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await host.wait_for(lambda: len(sim.executed) > 100)
    sim.reset()
    await finished(host)
    [event] = host.named("job_failed")
    assert event.data["job"]["id"] == reply["job"]["id"] and event.data["job"]["outcome"] == "interrupted"
    assert ("printer-1", "printer_reset") in host.alerts
    await host.wait_for(lambda: printer.status is Status.READY)
    assert printer.running is None  # nothing restarts by itself


async def test_emergency_stop_jumps_the_queue(make_printer: MakePrinter, host: RecordingHost,
                                              sim: MarlinSimulator, tmp_path: Path) -> None:
    printer = await make_printer()
    sim.profile.motion_scale = 1.0  # real-time moves: the firmware's queue stays full
    file_id = await upload(host, tmp_path, moves(2000))
    await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await host.wait_for(lambda: len(sim.executed) > 20)
    before = len(sim.executed)
    await printer.request("emergency_stop", {})
    await finished(host)
    await host.wait_for(lambda: sim.halted)
    assert sim.stats.emergency_stops == 1 and len(sim.executed) <= before + 1
    [event] = host.named("job_failed")
    assert "emergency stop" in event.data["job"]["reason"]


async def test_pause_resume_and_cancel(make_printer: MakePrinter, host: RecordingHost, sim: MarlinSimulator,
                                       tmp_path: Path) -> None:
    printer = await make_printer()
    sim.profile.motion_scale = 0.02
    commands = moves(600)
    file_id = await upload(host, tmp_path, commands)
    await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    await host.wait_for(lambda: len(sim.executed) > 50)
    await printer.request("pause", {})
    await asyncio.sleep(0.3)
    paused_at = len(sim.executed)
    await asyncio.sleep(0.3)
    assert len(sim.executed) == paused_at and printer.snapshot()["paused"] is True
    assert printer.snapshot()["job"]["state"] == "paused"
    await printer.request("resume", {})
    await host.wait_for(lambda: len(sim.executed) > paused_at + 50)
    reply = await printer.request("cancel", {})
    assert reply["job"]["outcome"] == "cancelled"
    await host.wait_for(lambda: "M140 S0" in [c for _, c in sim.executed[-3:]])
    assert len(ran(sim, commands)) < len(commands)
    assert host.named("job_cancelled") and printer.running is None


async def test_the_next_job_waits_for_someone_to_confirm_the_bed_is_clear(
        make_printer: MakePrinter, host: RecordingHost, sim: MarlinSimulator, tmp_path: Path) -> None:
    printer = await make_printer()
    sim.profile.motion_scale = 0.01
    first = await printer.request("print", {"file_id": await upload(host, tmp_path, moves(300), "a.gcode"),
                                            "confirm_bed_clear": True})
    second = await printer.request("print", {"file_id": await upload(host, tmp_path, moves(30), "b.gcode"),
                                             "confirm_bed_clear": True})
    assert first["started"] and not second["started"] and second["position"] == 1
    await finished(host)
    await asyncio.sleep(0.3)
    assert printer.running is None and printer.snapshot()["waiting_for_bed_clear"] is True
    with pytest.raises(RequestError) as refused:
        await printer.request("start_next", {})
    assert refused.value.code == "bed_clear_not_confirmed"
    await printer.request("start_next", {"confirm_bed_clear": True})
    await finished(host, 2)
    assert [j["file_name"] for j in (await printer.request("history", {}))["jobs"]] == ["b.gcode", "a.gcode"]


async def test_a_restarted_daemon_keeps_the_queue_and_the_interrupted_record(
        sim: MarlinSimulator, host: RecordingHost, tmp_path: Path) -> None:
    sim.profile.motion_scale = 0.05
    printer = PrinterDevice.from_config(printer_config(sim))
    await printer.start(host)
    running = await printer.request("print", {"file_id": await upload(host, tmp_path, moves(3000), "a.gcode"),
                                              "confirm_bed_clear": True})
    queued = await printer.request("print", {"file_id": await upload(host, tmp_path, moves(10), "b.gcode"),
                                             "confirm_bed_clear": True})
    await host.wait_for(lambda: len(sim.executed) > 50)
    await printer.stop()  # the daemon stops mid-print
    # A job left `printing` by a daemon that was killed outright is found at the next start too.
    store = JobStore(host.state_dir / "print-jobs.sqlite3")
    store.add(PrintJob(id="job-killed", printer="printer-1", file_id="x", file_name="c.gcode", state="printing"))
    store.close()

    again = PrinterDevice.from_config(printer_config(sim))
    await again.start(host)
    executed = len(sim.executed)
    try:
        history = {j["id"]: j for j in (await again.request("history", {}))["jobs"]}
        assert history[running["job"]["id"]]["outcome"] == "interrupted"
        assert history["job-killed"]["outcome"] == "interrupted"
        assert "daemon stopped" in history["job-killed"]["reason"]
        queue = await again.request("queue", {})
        assert [j["id"] for j in queue["jobs"]] == [queued["job"]["id"]] and queue["running"] is None
        await asyncio.sleep(0.5)
        assert again.running is None and len(sim.executed) == executed  # nothing started on its own
        await again.request("start_next", {"confirm_bed_clear": True})
        await host.wait_for(lambda: any(e.data["job"]["id"] == queued["job"]["id"]
                                        for e in host.named("job_finished")), 20)
    finally:
        await again.stop()


async def test_progress_follows_m73_when_the_file_has_it(make_printer: MakePrinter, host: RecordingHost,
                                                         sim: MarlinSimulator, tmp_path: Path) -> None:
    printer = await make_printer()
    sim.profile.motion_scale = 0.03
    # M73 values apart from the file positions they sit at (25 %, 50 %, 75 %), to tell the two sources apart.
    commands = [*moves(300), "M73 P30 R9", *moves(300), "M73 P60 R6", *moves(300), "M73 P90 R3", *moves(300)]
    await printer.request("print", {"file_id": await upload(host, tmp_path, commands), "confirm_bed_clear": True})
    await finished(host, timeout=30)
    reported = [(e.data["progress"], e.data["eta_s"]) for e in host.named("progress")]
    from_m73 = [p for p in reported if p[0] in (30.0, 60.0, 90.0)]
    assert from_m73 and all(eta == {30.0: 540, 60.0: 360, 90.0: 180}[p] for p, eta in from_m73)
    assert all(p in (30.0, 60.0, 90.0, 100.0) for p, _ in reported if p >= 30.0)
    before_m73 = [p for p, _ in reported if p < 30.0]
    # Until the first M73, by position in the file: a steady climb, not M73's steps.
    assert len(before_m73) > 2 and before_m73 == sorted(before_m73) and len(set(before_m73)) > 2


async def test_lines_too_long_for_the_firmware_are_refused(make_printer: MakePrinter, host: RecordingHost,
                                                           tmp_path: Path) -> None:
    printer = await make_printer()
    file_id = await upload(host, tmp_path, [*moves(5), "M117 " + "a very long message " * 6])
    with pytest.raises(RequestError) as refused:
        await printer.request("print", {"file_id": file_id, "confirm_bed_clear": True})
    assert refused.value.code == "line_too_long" and "line 7" in refused.value.message


async def test_an_unplugged_printer_interrupts_the_job_and_is_reported_lost(
        make_printer: MakePrinter, host: RecordingHost, sim: MarlinSimulator, tmp_path: Path) -> None:
    printer = await make_printer()
    sim.profile.motion_scale = 0.05
    await printer.request("print", {"file_id": await upload(host, tmp_path, moves(2000)), "confirm_bed_clear": True})
    await host.wait_for(lambda: len(sim.executed) > 50)
    after_unplug: list[Status] = []
    set_status = printer.set_status
    printer.set_status = lambda status, reason="": (after_unplug.append(status), set_status(status, reason))[1]  # type: ignore[method-assign]
    await sim.close()  # the USB cable is pulled: the port hangs up
    await finished(host)
    [event] = host.named("job_failed")
    assert event.data["job"]["outcome"] == "interrupted"
    await host.wait_for(lambda: printer.status is Status.LOST)
    assert ("printer-1", "printer_lost") in host.alerts
    # Between the job's end and `lost` it must never have looked ready to take the next print.
    assert Status.READY not in after_unplug, after_unplug


async def test_a_replugged_printer_is_reopened_and_its_lost_alert_cleared(tmp_path: Path) -> None:
    link = tmp_path / "usb-printer"
    first = MarlinSimulator(profile(motion_scale=0.0, heat_rate_c_s=200.0))
    await first.start()
    link.symlink_to(first.port)
    host = RecordingHost(tmp_path / "state", reopen=True)
    config = printer_config(first).model_copy(update={"port": str(link)})
    printer = PrinterDevice.from_config(config)
    await printer.start(host)
    second = MarlinSimulator(profile(motion_scale=0.0, heat_rate_c_s=200.0))
    await second.start()
    try:
        await first.close()  # unplugged
        await host.wait_for(lambda: printer.status is Status.LOST, 10)
        assert ("printer-1", "printer_lost") in host.alerts
        link.unlink()
        link.symlink_to(second.port)  # plugged back in: a new tty behind the same stable name
        await host.wait_for(lambda: printer.status is Status.READY, 15)
        assert ("printer-1", "printer_lost") not in host.alerts
    finally:
        await host.close()
        await printer.stop()
        await second.close()
