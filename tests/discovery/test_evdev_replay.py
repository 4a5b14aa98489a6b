"""The evdev replay recipe: python-evdev opens a umockdev event node and reads recorded events.

Recipe (for device tests of tablets and touch tables):
- `tests/fixtures/umockdev/wacom.umockdev` (+ `wacom-0.ioctl` for /dev/input/event10) is a pen node;
  `ilitek.umockdev` (+ `ilitek-0.ioctl` for /dev/input/event20) a 10-contact multi-touch node.
  `tests/support/umockdev.py: EvdevSpec(...).ioctl_text()` writes such `.ioctl` files for any axes.
- `.events` files are evemu lines `E: <sec>.<usec> <type hex> <code hex> <value>`, replayed at their times
  after the node is opened (`wacom-pen.events`, `ilitek-touch.events`).
- `umockdev-run -d X.umockdev -i NODE=X.ioctl -e NODE=X.events -- python …`
"""

from __future__ import annotations

import pytest

from tests.support.umockdev import FIXTURES, fixtures, requires_umockdev, run_json

pytestmark = [pytest.mark.umockdev, requires_umockdev]

READ = """
import json, select, sys, time
import evdev
path = sys.argv[1]
dev = evdev.InputDevice(path)
out = {"name": dev.name, "vid": dev.info.vendor, "pid": dev.info.product, "phys": dev.phys,
       "props": dev.input_props(),
       "caps": {str(t): [c[0] if isinstance(c, tuple) else c for c in codes]
                for t, codes in dev.capabilities(absinfo=True).items()},
       "absinfo": {str(c): list(i) for c, i in dev.capabilities(absinfo=True).get(3, [])},
       "events": []}
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    ready, _, _ = select.select([dev.fd], [], [], 0.3)
    if not ready:
        if out["events"]:
            break
        continue
    try:
        for e in dev.read():
            out["events"].append([e.type, e.code, e.value])
    except BlockingIOError:
        pass
dev.close()
print(json.dumps(out))
"""

EV_SYN, EV_KEY, EV_ABS = 0, 1, 3
BTN_TOOL_PEN, BTN_TOUCH = 0x140, 0x14A
ABS_X, ABS_PRESSURE, ABS_MT_SLOT, ABS_MT_TRACKING_ID, ABS_MT_POSITION_X = 0, 0x18, 0x2F, 0x39, 0x35


def replay(fixture: str, node: str, events: str) -> dict[str, object]:
    fx = fixtures(fixture)
    result: dict[str, object] = run_json(READ, fx.devices, ioctls=fx.ioctls, events={node: FIXTURES / events},
                                         args=[node])
    return result


def test_pen_tablet_node_opens_and_replays_pen_events() -> None:
    got = replay("wacom", "/dev/input/event10", "wacom-pen.events")
    assert got["name"] == "Wacom Intuos Pro M Pen"
    assert (got["vid"], got["pid"]) == (0x056A, 0x0357)
    caps = got["caps"]
    assert isinstance(caps, dict)
    assert BTN_TOOL_PEN in caps[str(EV_KEY)] and ABS_PRESSURE in caps[str(EV_ABS)]
    absinfo = got["absinfo"]
    assert isinstance(absinfo, dict)
    assert absinfo[str(ABS_PRESSURE)][2] == 8191  # AbsInfo(value, min, max, …)
    events = got["events"]
    assert isinstance(events, list)
    assert events[0] == [EV_KEY, BTN_TOOL_PEN, 1]
    assert [EV_KEY, BTN_TOUCH, 1] in events
    pressures = [e[2] for e in events if e[:2] == [EV_ABS, ABS_PRESSURE]]
    assert pressures == [4096, 6000, 0]
    assert events[-2:] == [[EV_KEY, BTN_TOOL_PEN, 0], [EV_SYN, 0, 0]]


def test_multitouch_node_opens_and_replays_two_fingers() -> None:
    got = replay("ilitek", "/dev/input/event20", "ilitek-touch.events")
    assert got["name"] == "ILITEK ILITEK-TP"
    assert got["props"] == [1]  # INPUT_PROP_DIRECT
    absinfo = got["absinfo"]
    assert isinstance(absinfo, dict)
    assert absinfo[str(ABS_MT_SLOT)][2] + 1 == 10
    events = got["events"]
    assert isinstance(events, list)
    tracking = [e[2] for e in events if e[:2] == [EV_ABS, ABS_MT_TRACKING_ID]]
    assert tracking == [101, 102, -1, -1]
    xs = [e[2] for e in events if e[:2] == [EV_ABS, ABS_MT_POSITION_X]]
    assert xs == [1000, 9000, 1200]
    assert sum(1 for e in events if e[0] == EV_SYN) == 3
