"""Runs in the guest: a pen tablet and a 10-finger touch surface made with uinput, played step by
step as the host asks.

The host creates `STEPS/<NN-action>` on the results share; this script runs the steps in order and
writes `STEPS/<NN-action>.done`. Actions: `pen` (one stroke), `down-<base>` (ten fingers down),
`lift`, `flood` (thousands of moves in one write, faster than any reader: the kernel drops events
and says SYN_DROPPED), `destroy` (both devices removed, whatever is held down).
"""

from __future__ import annotations

import os
import struct
import sys
import time
from pathlib import Path
from typing import Any

from evdev import AbsInfo, UInput
from evdev import ecodes as e

PEN_NAME = "VM Pen Tablet"
TOUCH_NAME = "VM Touch Surface"
FINGERS = 10


def make_pen() -> UInput:
    caps: dict[int, Any] = {
        e.EV_KEY: [e.BTN_TOOL_PEN, e.BTN_TOOL_RUBBER, e.BTN_TOUCH, e.BTN_STYLUS, e.BTN_STYLUS2],
        e.EV_ABS: [(e.ABS_X, AbsInfo(0, 0, 21600, 0, 0, 100)), (e.ABS_Y, AbsInfo(0, 0, 13500, 0, 0, 100)),
                   (e.ABS_PRESSURE, AbsInfo(0, 0, 8191, 0, 0, 0))],
    }
    return UInput(caps, name=PEN_NAME, vendor=0x056A, product=0x0357, version=1, input_props=[e.INPUT_PROP_POINTER])


def make_touch() -> UInput:
    caps: dict[int, Any] = {
        e.EV_KEY: [e.BTN_TOUCH],
        e.EV_ABS: [(e.ABS_X, AbsInfo(0, 0, 32767, 0, 0, 0)), (e.ABS_Y, AbsInfo(0, 0, 32767, 0, 0, 0)),
                   (e.ABS_MT_SLOT, AbsInfo(0, 0, FINGERS - 1, 0, 0, 0)),
                   (e.ABS_MT_TRACKING_ID, AbsInfo(0, 0, 65535, 0, 0, 0)),
                   (e.ABS_MT_POSITION_X, AbsInfo(0, 0, 32767, 0, 0, 0)),
                   (e.ABS_MT_POSITION_Y, AbsInfo(0, 0, 32767, 0, 0, 0))],
    }
    return UInput(caps, name=TOUCH_NAME, vendor=0x222A, product=0x0001, version=1, input_props=[e.INPUT_PROP_DIRECT])


def stroke(pen: UInput) -> None:
    pen.write(e.EV_KEY, e.BTN_TOOL_PEN, 1)
    pen.write(e.EV_ABS, e.ABS_X, 1000)
    pen.write(e.EV_ABS, e.ABS_Y, 1000)
    pen.syn()
    pen.write(e.EV_KEY, e.BTN_TOUCH, 1)
    for i in range(40):
        pen.write(e.EV_ABS, e.ABS_X, 1000 + i * 300)
        pen.write(e.EV_ABS, e.ABS_Y, 1000 + i * 200)
        pen.write(e.EV_ABS, e.ABS_PRESSURE, 2000 + i * 50)
        pen.syn()
        time.sleep(0.01)
    pen.write(e.EV_KEY, e.BTN_TOUCH, 0)
    pen.write(e.EV_ABS, e.ABS_PRESSURE, 0)
    pen.syn()
    pen.write(e.EV_KEY, e.BTN_TOOL_PEN, 0)
    pen.syn()


def fingers_down(touch: UInput, base: int) -> None:
    # New tracking ids each time: the kernel drops a tracking id equal to the slot's current one.
    for slot in range(FINGERS):
        touch.write(e.EV_ABS, e.ABS_MT_SLOT, slot)
        touch.write(e.EV_ABS, e.ABS_MT_TRACKING_ID, base + slot)
        touch.write(e.EV_ABS, e.ABS_MT_POSITION_X, 2000 + slot * 2500)
        touch.write(e.EV_ABS, e.ABS_MT_POSITION_Y, 16000)
    touch.write(e.EV_KEY, e.BTN_TOUCH, 1)
    touch.syn()


def lift(touch: UInput) -> None:
    for slot in range(FINGERS):
        touch.write(e.EV_ABS, e.ABS_MT_SLOT, slot)
        touch.write(e.EV_ABS, e.ABS_MT_TRACKING_ID, -1)
    touch.write(e.EV_KEY, e.BTN_TOUCH, 0)
    touch.syn()


def flood(touch: UInput, frames: int) -> None:
    """Moves of all ten fingers in one write: the reader cannot keep up, the kernel drops."""
    now = time.time()
    sec, usec = int(now), int((now % 1) * 1_000_000)
    events = []
    for frame in range(frames):
        for slot in range(FINGERS):
            events.append((e.EV_ABS, e.ABS_MT_SLOT, slot))
            events.append((e.EV_ABS, e.ABS_MT_POSITION_Y, 16000 + (frame % 200) * 10 + slot))
        events.append((e.EV_SYN, e.SYN_REPORT, 0))
    data = b"".join(struct.pack("llHHi", sec, usec, t, c, v) for t, c, v in events)
    os.write(touch.fd, data)


def main(steps: Path) -> None:
    """Run `steps/<NN-action>` files in order; `action` is pen, down-<base>, lift, flood or destroy."""
    pen, touch = make_pen(), make_touch()
    (steps / "created.done").write_text(f"{os.fsdecode(pen.device.path)} {os.fsdecode(touch.device.path)}\n")
    done: set[str] = set()
    while True:
        for step in sorted(p.name for p in steps.iterdir() if not p.name.endswith(".done")):
            if step in done:
                continue
            action = step.split("-", 1)[1]
            if action == "pen":
                stroke(pen)
            elif action.startswith("down-"):
                fingers_down(touch, int(action.removeprefix("down-")))
            elif action == "lift":
                lift(touch)
            elif action == "flood":
                flood(touch, 3000)
            elif action == "destroy":
                pen.close()
                touch.close()
            done.add(step)
            (steps / f"{step}.done").write_text("ok\n")
            if action == "destroy":
                return
        time.sleep(0.05)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
