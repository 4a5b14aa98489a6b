"""Real evdev nodes under umockdev: python-evdev opens them through replayed ioctls
and reads evemu event files, so the daemon's real reader path runs end to end."""

from __future__ import annotations

from pathlib import Path

from classroomd.drivers.evdev_input import (
    ABS_MT_POSITION_X,
    ABS_MT_SLOT,
    ABS_MT_TRACKING_ID,
    EV_ABS,
    EV_SYN,
    SYN_DROPPED,
    SYN_REPORT,
)
from classroomd.simulators.input import pen_stroke, touches
from tests.support.umockdev import FIXTURES, requires_umockdev, run_json

Event = tuple[float, int, int, int]


def evemu(events: list[Event]) -> str:
    """evemu's `E: <sec.usec> <type> <code> <value>` lines, with times accumulated from the delays."""
    t = 0.0
    lines = []
    for dt, type_, code, value in events:
        t += dt
        lines.append(f"E: {t:.6f} {type_:04x} {code:04x} {value}")
    return "\n".join(lines) + "\n"


RUN_DEVICE = """
import asyncio, json, sys
from pathlib import Path
from classroomd.config.schema import DeviceConfig
from classroomd.devices import device_class
from tests.support.host import RecordingHost

kind, node, until = sys.argv[1], sys.argv[2], sys.argv[3]

async def main():
    host = RecordingHost(Path(sys.argv[4]))
    config = DeviceConfig.model_validate({"id": "dev-1", "kind": kind, "source": node, "activity_every_s": 0.01})
    device = device_class(kind).from_config(config)
    await device.start(host)
    try:
        await host.wait_for(lambda: eval(until, {"s": device.snapshot()}), 10)
    finally:
        snap = device.snapshot()
        await device.stop()
    print(json.dumps({"state": snap, "events": [e.name for e in host.events]}))

asyncio.run(main())
"""


@requires_umockdev
def test_a_wacom_pen_stroke_with_pressure_and_tilt(tmp_path: Path) -> None:
    stroke = pen_stroke([(0.2 + i / 100, 0.5) for i in range(30)], rate_hz=200)
    events = tmp_path / "pen.events"
    events.write_text(evemu(stroke))
    result = run_json(RUN_DEVICE, [FIXTURES / "wacom.umockdev"],
                      ioctls={"/dev/input/event10": FIXTURES / "wacom-0.ioctl"},
                      events={"/dev/input/event10": events},
                      args=["tablet", "/dev/input/event10", "s['strokes'] == 1 and not s['in_proximity']",
                            str(tmp_path / "state")])
    state = result["state"]
    assert state["status"] == "ready" and state["strokes"] == 1
    assert state["pressure_levels"] == 8192 and state["tilt"] is True
    assert "activity" in result["events"]


@requires_umockdev
def test_ten_fingers_with_syn_dropped_leave_no_ghost_contacts(tmp_path: Path) -> None:
    ten = [[(0.05 + 0.09 * f + 0.001 * t, 0.5) for t in range(5)] for f in range(10)]
    session = touches(ten, 500, rate_hz=200)
    lift_at = max(i for i, e in enumerate(session) if e[2] == ABS_MT_SLOT and e[3] == 0)
    # The kernel's buffer overflows just as the fingers lift: the lift events are lost,
    # and what arrives is SYN_DROPPED, a fragment, and the next full report.
    dropped: list[Event] = [
        *session[:lift_at],
        (0.005, EV_SYN, SYN_DROPPED, 0),
        (0, EV_ABS, ABS_MT_SLOT, 7), (0, EV_ABS, ABS_MT_POSITION_X, 100),
        (0, EV_SYN, SYN_REPORT, 0),
        # One new finger afterwards is tracked normally.
        (0.005, EV_ABS, ABS_MT_SLOT, 0), (0, EV_ABS, ABS_MT_TRACKING_ID, 900), (0, EV_ABS, ABS_MT_POSITION_X, 50),
        (0, EV_SYN, SYN_REPORT, 0),
        (0.005, EV_ABS, ABS_MT_TRACKING_ID, -1), (0, EV_SYN, SYN_REPORT, 0),
    ]
    events = tmp_path / "touch.events"
    events.write_text(evemu(dropped))
    result = run_json(RUN_DEVICE, [FIXTURES / "ilitek.umockdev"],
                      ioctls={"/dev/input/event20": FIXTURES / "ilitek-0.ioctl"},
                      events={"/dev/input/event20": events},
                      args=["touch_table", "/dev/input/event20", "s['touches'] == 11 and s['contacts'] == 0",
                            str(tmp_path / "state")])
    state = result["state"]
    assert state["peak_contacts"] == 10 and state["max_contacts"] == 10
    assert state["contacts"] == 0, "contacts whose lift was lost in the overflow must not stay as ghosts"
    assert state["resyncs"] == 1 and state["touches"] == 11
