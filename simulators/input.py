"""Demo tablet and touch table: synthesised evdev recordings, replayed in a loop.

The recordings follow the kernel's event protocols exactly (tablet tools;
multi-touch type B), so the demo runs the same trackers as real hardware.
"""

from __future__ import annotations

import math
from pathlib import Path

from classroomd.config.schema import DeviceConfig
from classroomd.core.vocabulary import Kind
from classroomd.drivers.evdev_input import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    ABS_MT_SLOT,
    ABS_MT_TRACKING_ID,
    ABS_PRESSURE,
    ABS_TILT_X,
    ABS_TILT_Y,
    ABS_X,
    ABS_Y,
    BTN_STYLUS,
    BTN_STYLUS2,
    BTN_TOOL_PEN,
    BTN_TOOL_RUBBER,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    INPUT_PROP_DIRECT,
    SYN_REPORT,
    AbsRange,
    InputCaps,
    write_recording,
)
from classroomd.simulators.base import DemoDevice

Event = tuple[float, int, int, int]

# An Intuos-class pen tablet: 157.5 × 98.4 mm at 200 units/mm, 8192 pressure levels.
PEN_CAPS = InputCaps(
    name="Wacom Intuos M Pen (demo)",
    keys={BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_TOUCH, BTN_STYLUS, BTN_STYLUS2},
    abs={ABS_X: AbsRange(0, 31496, 200), ABS_Y: AbsRange(0, 19685, 200), ABS_PRESSURE: AbsRange(0, 8191),
         ABS_TILT_X: AbsRange(-64, 63, 57), ABS_TILT_Y: AbsRange(-64, 63, 57)},
)

# A 10-contact ILITEK-class table controller.
TOUCH_CAPS = InputCaps(
    name="ILITEK Multi-Touch-V5000 (demo)",
    keys={BTN_TOUCH},
    abs={ABS_X: AbsRange(0, 16383), ABS_Y: AbsRange(0, 9599), ABS_MT_SLOT: AbsRange(0, 9),
         ABS_MT_TRACKING_ID: AbsRange(0, 65535), ABS_MT_POSITION_X: AbsRange(0, 16383),
         ABS_MT_POSITION_Y: AbsRange(0, 9599)},
    props={INPUT_PROP_DIRECT},
)


def pen_stroke(points: list[tuple[float, float]], rate_hz: float = 100.0) -> list[Event]:
    """Proximity in, pen down, move through points (0..1), pen up, proximity out."""
    x_max, y_max = PEN_CAPS.abs[ABS_X].max, PEN_CAPS.abs[ABS_Y].max
    dt = 1 / rate_hz
    x0, y0 = points[0]
    events: list[Event] = [
        (0.5, EV_KEY, BTN_TOOL_PEN, 1), (0, EV_ABS, ABS_X, int(x0 * x_max)), (0, EV_ABS, ABS_Y, int(y0 * y_max)),
        (0, EV_SYN, SYN_REPORT, 0),
        (dt, EV_KEY, BTN_TOUCH, 1), (0, EV_SYN, SYN_REPORT, 0),
    ]
    for i, (x, y) in enumerate(points):
        pressure = int(2500 + 3000 * math.sin(math.pi * i / max(1, len(points) - 1)))
        events += [(dt, EV_ABS, ABS_X, int(x * x_max)), (0, EV_ABS, ABS_Y, int(y * y_max)),
                   (0, EV_ABS, ABS_PRESSURE, pressure), (0, EV_SYN, SYN_REPORT, 0)]
    events += [(dt, EV_ABS, ABS_PRESSURE, 0), (0, EV_KEY, BTN_TOUCH, 0), (0, EV_SYN, SYN_REPORT, 0),
               (dt, EV_KEY, BTN_TOOL_PEN, 0), (0, EV_SYN, SYN_REPORT, 0)]
    return events


def pen_demo_events() -> list[Event]:
    circle = [(0.5 + 0.2 * math.cos(t / 60 * 2 * math.pi), 0.5 + 0.3 * math.sin(t / 60 * 2 * math.pi))
              for t in range(61)]
    wave = [(0.15 + 0.7 * t / 80, 0.8 + 0.05 * math.sin(t / 6)) for t in range(81)]
    return [*pen_stroke(circle), (3.0, EV_SYN, SYN_REPORT, 0), *pen_stroke(wave), (4.0, EV_SYN, SYN_REPORT, 0)]


def touches(fingers: list[list[tuple[float, float]]], tracking_start: int, rate_hz: float = 60.0) -> list[Event]:
    """Several fingers down together, each following its path (0..1), then all lifted."""
    x_max, y_max = TOUCH_CAPS.abs[ABS_MT_POSITION_X].max, TOUCH_CAPS.abs[ABS_MT_POSITION_Y].max
    dt = 1 / rate_hz
    events: list[Event] = []
    steps = max(len(path) for path in fingers)
    for step in range(steps):
        frame: list[Event] = []
        for slot, path in enumerate(fingers):
            x, y = path[min(step, len(path) - 1)]
            frame.append((0, EV_ABS, ABS_MT_SLOT, slot))
            if step == 0:
                frame.append((0, EV_ABS, ABS_MT_TRACKING_ID, tracking_start + slot))
            frame += [(0, EV_ABS, ABS_MT_POSITION_X, int(x * x_max)), (0, EV_ABS, ABS_MT_POSITION_Y, int(y * y_max))]
        frame.append((0, EV_SYN, SYN_REPORT, 0))
        events += [(dt if i == 0 else 0, *ev[1:]) for i, ev in enumerate(frame)]
    lift: list[Event] = []
    for slot in range(len(fingers)):
        lift += [(0, EV_ABS, ABS_MT_SLOT, slot), (0, EV_ABS, ABS_MT_TRACKING_ID, -1)]
    lift.append((0, EV_SYN, SYN_REPORT, 0))
    events += [(dt if i == 0 else 0, *ev[1:]) for i, ev in enumerate(lift)]
    return events


def touch_demo_events() -> list[Event]:
    pinch = [[(0.3 + 0.1 * t / 40, 0.5) for t in range(41)], [(0.7 - 0.1 * t / 40, 0.5) for t in range(41)]]
    tap = [[(0.1 + 0.15 * f, 0.3)] * 6 for f in range(5)]
    return [*touches(pinch, 100), (2.0, EV_SYN, SYN_REPORT, 0), *touches(tap, 200), (3.0, EV_SYN, SYN_REPORT, 0)]


async def _nothing() -> None:
    return None


async def start_demo_tablet(workdir: Path) -> DemoDevice:
    workdir.mkdir(parents=True, exist_ok=True)
    recording = workdir / "pen.json"
    write_recording(recording, PEN_CAPS, pen_demo_events())
    config = DeviceConfig.model_validate({"id": "tablet-1", "kind": Kind.TABLET, "name": "Demo pen tablet",
                                          "source": f"replay://{recording}", "panel": "panel-1"})
    return DemoDevice(config, _nothing)


async def start_demo_touch_table(workdir: Path) -> DemoDevice:
    workdir.mkdir(parents=True, exist_ok=True)
    recording = workdir / "touch.json"
    write_recording(recording, TOUCH_CAPS, touch_demo_events())
    config = DeviceConfig(id="table-1", kind=Kind.TOUCH_TABLE, name="Demo touch table", source=f"replay://{recording}")
    return DemoDevice(config, _nothing)
