"""The Marlin driver against the simulated board, over a real pty opened by pyserial."""

from __future__ import annotations

import asyncio
import os
import tty

import pytest

from classroomd.drivers.marlin import (
    BoardReset,
    HandshakeFailed,
    MarlinPort,
    MarlinSettings,
    PrinterHalted,
    PrinterTimeout,
    ResendLimit,
)
from classroomd.drivers.serial_link import SerialLink
from tests.printer.support import connected, moves, simulator


async def test_handshake_through_boot_noise_reads_firmware_and_caps() -> None:
    async with simulator(boot_noise=b"\x00\xff\xfe\x13garbage\r\n\x80\x81") as sim, connected(sim) as port:
        assert port.firmware.name.startswith("Marlin 2.1.2.1")
        assert port.firmware.fields["MACHINE_TYPE"] == "Prusa MK4 (simulated)"
        for cap in ("ADVANCED_OK", "AUTOREPORT_TEMP", "EMERGENCY_PARSER"):
            assert port.firmware.cap(cap), cap
        assert not port.firmware.cap("SERIAL_XON_XOFF")
        assert port.temperatures.hotend == pytest.approx(22.0, abs=1)
        assert [c for _, c in sim.executed][-3:] == ["M115", "M105", "M155 S2"]
        assert sim.stats.checksum_errors == sim.stats.line_number_errors == 0


async def test_without_advanced_ok_one_line_is_in_flight() -> None:
    async with simulator(advanced_ok=False, autoreport_temp=False) as sim, connected(sim) as port:
        assert not port.firmware.cap("ADVANCED_OK") and not port.advanced
        commands = moves(300)
        await port.stream(commands)
        assert port.window == 1
        assert [c for _, c in sim.executed][-300:] == commands


@pytest.mark.parametrize("advanced", [True, False], ids=["send-ahead", "one-in-flight"])
async def test_20000_lines_through_line_noise_run_exactly_once_in_order(advanced: bool) -> None:
    async with simulator(advanced_ok=advanced, seed=7) as sim, connected(sim) as port:
        first = port.next_line_number
        sim.set_noise(1e-4)
        commands = moves(20_000)
        stream = await port.stream(commands)
        ran = [c for n, c in sim.executed if n >= first]
        assert ran == commands  # none lost, none repeated, none out of order
        assert sim.stats.bytes_corrupted > 20 and sim.stats.checksum_errors > 0
        assert stream.resent > 0 and stream.sent == len(commands)
        if advanced:
            assert port.window == 4


@pytest.mark.parametrize("ok_after_resend", [True, False], ids=["resend+ok", "resend-only"])
@pytest.mark.parametrize("advanced", [True, False], ids=["send-ahead", "one-in-flight"])
async def test_resend_requests_with_and_without_ok(ok_after_resend: bool, advanced: bool) -> None:
    async with simulator(ok_after_resend=ok_after_resend, advanced_ok=advanced) as sim, \
            connected(sim, timeout_s=10.0) as port:  # a busy test machine must not cause a probe here
        first = port.next_line_number
        sim.corrupt_lines.update({first + 5: 1, first + 9: 2, first + 40: 3, first + 41: 1})
        commands = moves(200)
        stream = await port.stream(commands)
        assert [c for n, c in sim.executed if n >= first] == commands
        assert port.ok_after_resend is ok_after_resend
        assert stream.resent >= 7
        assert port.stats.probes == 0  # recovered from the resend requests alone, not by time-outs


async def test_a_lost_ok_is_recovered_by_a_probe() -> None:
    async with simulator(advanced_ok=False) as sim, connected(sim, timeout_s=0.3) as port:
        first = port.next_line_number
        commands = moves(100)

        async def drop_later() -> None:
            while len(sim.executed) < first + 30:
                await asyncio.sleep(0.001)
            sim.drop_oks = 1

        dropper = asyncio.create_task(drop_later())
        await asyncio.wait_for(port.stream(commands), 10)
        await dropper
        assert [c for n, c in sim.executed if n >= first] == commands
        assert port.stats.probes >= 1


async def test_a_line_refused_again_and_again_ends_in_a_clear_fault() -> None:
    async with simulator() as sim, connected(sim, resend_cap=5) as port:
        sim.corrupt_lines[port.next_line_number + 3] = 1000
        with pytest.raises(ResendLimit, match="refused 6 times"):
            await asyncio.wait_for(port.stream(moves(50)), 10)
        assert port.failure is not None
        received = sim.stats.lines_received
        await asyncio.sleep(0.2)
        assert sim.stats.lines_received == received  # nothing more is sent after the fault


@pytest.mark.parametrize("advanced", [True, False], ids=["send-ahead", "one-in-flight"])
async def test_long_heating_without_keepalive_is_not_a_timeout(advanced: bool) -> None:
    async with simulator(host_keepalive=False, heat_rate_c_s=80.0, advanced_ok=advanced) as sim, \
            connected(sim, timeout_s=0.2, long_timeout_s=10.0) as port:
        # The bed heats at 20 °C/s: M190 blocks for ~2 s, ten times the normal time-out.
        commands = ["M140 S60", "M190 S60", *moves(20)]
        first = port.next_line_number
        await asyncio.wait_for(port.stream(commands), 20)
        assert port.stats.probes == 0 and port.failure is None
        assert [c for n, c in sim.executed if n >= first] == commands
        # The reports printed while M190 waited reached the host.
        assert port.temperatures.bed_target == 60 and port.temperatures.bed is not None
        assert 30 < port.temperatures.bed <= 60


async def test_a_board_that_hangs_during_m190_times_out() -> None:
    async with simulator(heat_rate_c_s=4.0) as sim, \
            connected(sim, timeout_s=0.2, long_timeout_s=0.6, max_probes=1) as port:
        task = asyncio.create_task(port.stream(["M190 S60", *moves(5)]))
        await asyncio.sleep(0.3)
        sim.frozen = True
        with pytest.raises(PrinterTimeout, match="stopped answering"):
            await asyncio.wait_for(task, 10)


@pytest.mark.parametrize(("inject", "error", "text"), [
    ("halt", PrinterHalted, "kill"),
    ("runaway", PrinterHalted, "Thermal Runaway"),
    ("reset", BoardReset, "restarted"),
    ("fatal", PrinterHalted, "fatal"),
])
async def test_every_halt_stops_sending(inject: str, error: type[Exception], text: str) -> None:
    async with simulator(motion_scale=0.02) as sim, connected(sim) as port:
        first = port.next_line_number
        if inject == "fatal":
            asyncio.get_running_loop().call_later(0.1, sim.say, "fatal: Heater 0 failure")
        else:
            sim.at_line[first + 40] = inject
        with pytest.raises(error, match=text):
            await asyncio.wait_for(port.stream(moves(5000)), 10)
        received = sim.stats.bytes_received
        await asyncio.sleep(0.3)
        assert sim.stats.bytes_received == received
        assert len(sim.executed) < first + 5000


async def test_emergency_stop_jumps_the_queue() -> None:
    # Slow moves keep the firmware's queue and planner full: only the emergency parser reacts at once.
    async with simulator(motion_scale=1.0) as sim, connected(sim) as port:
        task = asyncio.create_task(port.stream(moves(2000)))
        await asyncio.sleep(0.3)
        ran_before = len(sim.executed)
        await port.emergency_stop()
        with pytest.raises(PrinterHalted, match="emergency"):
            await task
        await asyncio.sleep(0.05)
        assert sim.halted and sim.stats.emergency_stops == 1
        assert len(sim.executed) <= ran_before + 1
        assert b"M104 S0" in sim.after_halt


async def test_without_autoreport_temperatures_are_polled() -> None:
    async with simulator(autoreport_temp=False) as sim, connected(sim, poll_s=0.1) as port:
        assert not port.firmware.cap("AUTOREPORT_TEMP")
        sim.hotend.target = 150.0
        for _ in range(50):
            if port.temperatures.hotend_target == 150.0:
                break
            await asyncio.sleep(0.05)
        assert port.temperatures.hotend_target == 150.0
        assert "M155 S2" not in [c for _, c in sim.executed]


@pytest.mark.parametrize("advanced", [True, False], ids=["send-ahead", "one-in-flight"])
async def test_a_board_that_restarts_silently_is_not_sent_the_job_again(advanced: bool) -> None:
    async with simulator(motion_scale=0.02, advanced_ok=advanced) as sim, connected(sim) as port:
        first = port.next_line_number
        task = asyncio.create_task(port.stream(moves(3000)))
        while len(sim.executed) < first + 100:
            await asyncio.sleep(0.01)
        sim.reset(quiet=True)  # no `start` reaches the host
        with pytest.raises(BoardReset, match="restarted"):
            await asyncio.wait_for(task, 10)
        numbers = [n for n, _ in sim.executed if n >= first]
        assert numbers == sorted(numbers) and len(numbers) == len(set(numbers))  # nothing ran twice


async def test_a_port_with_no_printer_behind_it_fails_the_handshake_clearly() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    port = MarlinPort(SerialLink(path), MarlinSettings(reset_wait_s=0.1, handshake_attempts=2, handshake_reply_s=0.2))
    try:
        with pytest.raises(HandshakeFailed, match="no reply to M110 after 2 tries"):
            await port.connect()
        assert os.read(master, 4096).count(b"N0 M110 N0*") == 2
    finally:
        await port.close()
        os.close(master)
