"""Pen and multi-touch trackers against spec-exact event sequences (kernel input protocols)."""

from __future__ import annotations

from classroomd.devices.input_tracking import MultiTouchTracker, PenTracker
from classroomd.drivers.evdev_input import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    ABS_MT_SLOT,
    ABS_MT_TRACKING_ID,
    ABS_PRESSURE,
    ABS_X,
    ABS_Y,
    BTN_STYLUS,
    BTN_TOOL_PEN,
    BTN_TOOL_RUBBER,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    SYN_DROPPED,
    SYN_REPORT,
    InputEvent,
)
from classroomd.simulators.input import PEN_CAPS, TOUCH_CAPS


def ev(type_: int, code: int, value: int) -> InputEvent:
    return InputEvent(0.0, type_, code, value)


SYN = ev(EV_SYN, SYN_REPORT, 0)


def test_pen_proximity_touch_pressure_and_buttons() -> None:
    pen = PenTracker(PEN_CAPS)
    hover = pen.feed([ev(EV_KEY, BTN_TOOL_PEN, 1), ev(EV_ABS, ABS_X, 31496 // 2), ev(EV_ABS, ABS_Y, 19685), SYN])
    assert len(hover) == 1 and hover[0].in_proximity and not hover[0].touching
    assert abs(hover[0].x - 0.5) < 0.001 and hover[0].y == 1.0
    down = pen.feed([ev(EV_KEY, BTN_TOUCH, 1), ev(EV_ABS, ABS_PRESSURE, 8191), ev(EV_KEY, BTN_STYLUS, 1), SYN])
    assert down[0].touching and down[0].pressure == 1.0 and down[0].buttons == {"stylus"}
    # Only changed values arrive: x stays where it was.
    moved = pen.feed([ev(EV_ABS, ABS_Y, 0), SYN])
    assert abs(moved[0].x - 0.5) < 0.001 and moved[0].y == 0.0 and moved[0].touching
    out = pen.feed([ev(EV_KEY, BTN_TOUCH, 0), ev(EV_KEY, BTN_TOOL_PEN, 0), SYN])
    assert not out[0].in_proximity and not out[0].touching


def test_eraser_is_reported_as_its_own_tool() -> None:
    pen = PenTracker(PEN_CAPS)
    [sample] = pen.feed([ev(EV_KEY, BTN_TOOL_RUBBER, 1), ev(EV_KEY, BTN_TOUCH, 1), SYN])
    assert sample.tool == "eraser" and sample.touching


def test_pen_discards_the_partial_frame_after_syn_dropped() -> None:
    pen = PenTracker(PEN_CAPS)
    pen.feed([ev(EV_KEY, BTN_TOOL_PEN, 1), ev(EV_ABS, ABS_X, 100), SYN])
    samples = pen.feed([ev(EV_SYN, SYN_DROPPED, 0), ev(EV_ABS, ABS_X, 30000), SYN, ev(EV_ABS, ABS_Y, 5), SYN])
    # The frame cut by the overflow yields nothing; the next complete one does.
    assert len(samples) == 1 and pen.dropped_reports == 1
    assert samples[0].x < 0.01  # the x from the dropped frame was not applied


def finger(slot: int, tracking: int | None, x: int, y: int) -> list[InputEvent]:
    out = [ev(EV_ABS, ABS_MT_SLOT, slot)]
    if tracking is not None:
        out.append(ev(EV_ABS, ABS_MT_TRACKING_ID, tracking))
    return [*out, ev(EV_ABS, ABS_MT_POSITION_X, x), ev(EV_ABS, ABS_MT_POSITION_Y, y)]


def test_multitouch_protocol_b_contacts_peak_and_lift() -> None:
    mt = MultiTouchTracker(TOUCH_CAPS)
    [frame] = mt.feed([*finger(0, 45, 0, 0), *finger(1, 46, 16383, 9599), SYN])
    assert frame.began == 2 and mt.contacts == 2 and mt.peak == 2
    assert frame.contacts[1].x == 1.0 and frame.contacts[1].y == 1.0
    # Slot 1 moves without re-sending its tracking id; slot 0 lifts.
    mt.feed([ev(EV_ABS, ABS_MT_SLOT, 1), ev(EV_ABS, ABS_MT_POSITION_X, 0), ev(EV_ABS, ABS_MT_SLOT, 0),
             ev(EV_ABS, ABS_MT_TRACKING_ID, -1), SYN])
    assert mt.contacts == 1 and mt.slots[1].x == 0.0 and mt.peak == 2 and mt.touches == 2
    mt.feed([*finger(0, 47, 10, 10), *finger(2, 48, 10, 10), *finger(3, 49, 10, 10), SYN])
    assert mt.contacts == 4 and mt.peak == 4 and mt.touches == 5


def test_multitouch_forgets_slots_after_syn_dropped_and_recovers() -> None:
    mt = MultiTouchTracker(TOUCH_CAPS)
    mt.feed([*finger(0, 1, 100, 100), *finger(1, 2, 200, 200), SYN])
    frames = mt.feed([ev(EV_SYN, SYN_DROPPED, 0), ev(EV_ABS, ABS_MT_SLOT, 0), ev(EV_ABS, ABS_MT_TRACKING_ID, -1), SYN])
    assert frames == [] and mt.contacts == 0 and mt.resyncs == 1
    mt.feed([*finger(1, 3, 300, 300), SYN])
    assert mt.contacts == 1 and mt.peak == 2
