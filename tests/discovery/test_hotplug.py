"""Hot-plug through a umockdev Testbed: add and remove uevents reach on_found/on_lost; replug keeps the id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.umockdev import FIXTURES, TestbedProcess, requires_testbed

pytestmark = [pytest.mark.umockdev, requires_testbed]

DRIVER = r"""
import asyncio, os, re, time
from classroomd.config.schema import Config
from classroomd.daemon.catalog import Catalog
from classroomd.daemon.discovery import Discovery

added = {}
started = {}

events = []

def found(info):
    events.append(("found", info.id))
    emit(event="found", id=info.id, kind=str(info.kind), paths=info.paths, options=info.options,
         latency=time.monotonic() - started.pop(info.id.split("-")[0], time.monotonic()))

def lost(device_id):
    events.append(("lost", device_id))
    emit(event="lost", id=device_id, latency=time.monotonic() - started.pop("lost", time.monotonic()))

def command(line):
    verb, name, *rename = line.split()
    text = open(os.path.join(FIXTURES, name + ".umockdev")).read()
    # umockdev 0.17 keeps a removed tty's node name reserved, so a replug comes back as the next
    # node (as the kernel does while the old one is still held open).
    for pair in rename if verb == "add" else []:
        old, _, new = pair.partition("->")
        text = text.replace(old, new)
    records = re.findall(r"^P: (.+)$", text, re.M)
    if verb == "add":
        started[name_kind[name]] = time.monotonic()
        testbed.add_from_string(text)
        added[name] = ["/sys" + p for p in records]
    elif verb == "remove":
        started["lost"] = time.monotonic()
        for syspath in added.pop(name):
            testbed.uevent(syspath, "remove")
            testbed.remove_device(syspath)
    elif verb == "fixture":
        started[name_kind[name]] = time.monotonic()
        add_fixture(name)
        added[name] = ["/sys" + p for p in records]
    elif verb == "cycle":
        asyncio.get_running_loop().create_task(cycle(text, records, int(rename[0])))
        return
    emit(event="done", verb=verb, name=name)


async def cycle(text, records, count):
    # Plug and unplug `count` times, waiting for each report, then count fds and threads.
    import threading
    def snapshot():
        # The testbed itself keeps a pty per node it ever created (umockdev 0.17): not ours to count.
        fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
               if os.path.exists(f"/proc/self/fd/{fd}") or os.path.islink(f"/proc/self/fd/{fd}")]
        ours = [t for t in fds if not t.startswith(("/dev/pts", "/dev/ptmx", "/dev/pts/ptmx"))]
        return len(ours), threading.active_count()
    before = None
    for i in range(count + 1):
        events.clear()
        # A removed node's name stays reserved in umockdev 0.17: each plug gets fresh node numbers.
        fresh = re.sub(r"\bvideo(\d+)\b", lambda m: f"video{100 + 2 * i + int(m.group(1)) % 2}", text)
        fresh = re.sub(r"dev=81:(\d+)", lambda m: f"dev=81:{100 + 2 * i + int(m.group(1)) % 2}", fresh)
        records = re.findall(r"^P: (.+)$", fresh, re.M)
        testbed.add_from_string(fresh)
        while not any(e[0] == "found" for e in events):
            await asyncio.sleep(0.01)
        for syspath in ["/sys" + p for p in records]:
            testbed.uevent(syspath, "remove")
            testbed.remove_device(syspath)
        while not any(e[0] == "lost" for e in events):
            await asyncio.sleep(0.01)
        if before is None:
            before = snapshot()  # after one full cycle: lazily created sockets and caches exist
    emit(event="cycled", count=count, before=before, after=snapshot())

name_kind = {"prusa": "printer", "microscope": "microscope", "huion": "tablet", "ch340": "ch340",
             "wacom": "tablet", "ilitek": "touch", "egalax20": "touch"}

async def main():
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    discovery = Discovery(Catalog.load(), Config(), found, lost, probe=False)
    await discovery.start()
    emit(event="ready")
    def readable():
        line = os.read(0, 4096).decode()
        if not line:
            done.set()
            return
        for one in line.splitlines():
            if one.strip():
                command(one.strip())
    loop.add_reader(0, readable)
    await done.wait()
    await discovery.stop()

asyncio.run(main())
"""


@pytest.fixture
def testbed() -> Iterator[TestbedProcess]:
    proc = TestbedProcess(f"FIXTURES = {str(FIXTURES)!r}\n" + DRIVER)
    try:
        proc.expect(timeout=20, event="ready")
        yield proc
    finally:
        proc.close()


def test_plug_unplug_and_replug_keep_the_id(testbed: TestbedProcess) -> None:
    testbed.send("add prusa")
    found = testbed.expect(event="found")
    assert found["id"] == "printer-2c99-0002-czpx1017x003xc12345"
    assert found["paths"] == ["/dev/ttyACM0"]
    assert found["latency"] < 1.0

    testbed.send("remove prusa")
    lost = testbed.expect(event="lost")
    assert lost["id"] == found["id"]
    assert lost["latency"] < 1.0

    testbed.send("add prusa ttyACM0->ttyACM1 dev=166:0->dev=166:1")
    again = testbed.expect(event="found")
    assert again["id"] == found["id"]
    assert again["paths"] == ["/dev/ttyACM1"]


def test_nodes_of_one_device_arrive_as_one_and_others_are_untouched(testbed: TestbedProcess) -> None:
    testbed.send("add microscope")
    scope = testbed.expect(event="found")
    assert scope["kind"] == "microscope" and scope["paths"] == ["/dev/video2", "/dev/video3"]
    testbed.send("add huion")
    tablet = testbed.expect(event="found")
    assert tablet["id"] == "tablet-256c-006d-usb1-3"
    testbed.send("add ch340")  # a bridge: seen, never found
    testbed.expect(event="done", name="ch340")
    testbed.send("remove microscope")
    lost = testbed.expect(event="lost")
    assert lost["id"] == scope["id"]
    testbed.send("remove ch340")
    testbed.expect(event="done", name="ch340")
    testbed.send("remove huion")
    lost = testbed.expect(event="lost")
    assert lost["id"] == tablet["id"]  # nothing was reported for the bridge in between


def test_plug_cycles_leak_no_file_descriptors_or_threads(testbed: TestbedProcess) -> None:
    testbed.send("cycle microscope 40")
    done = testbed.expect(timeout=60, event="cycled")
    assert done["count"] == 40
    assert done["after"] == done["before"]


def test_hotplugged_tablet_and_touch_frame_are_classified_from_their_capabilities(testbed: TestbedProcess) -> None:
    testbed.send("fixture wacom")
    wacom = testbed.expect(event="found")
    assert wacom["kind"] == "tablet"
    assert wacom["options"]["nodes"] == {"pen": "/dev/input/event10", "pad": "/dev/input/event11",
                                         "touch": "/dev/input/event12"}
    assert wacom["options"]["pressure_levels"] == 8192
    testbed.send("fixture egalax20")
    table = testbed.expect(event="found")
    assert table["kind"] == "touch_table" and table["options"]["contacts"] == 20
    testbed.send("remove egalax20")
    assert testbed.expect(event="lost")["id"] == table["id"]
    testbed.send("fixture ilitek")
    panel_touch = testbed.expect(event="found")
    assert panel_touch["kind"] == "panel" and panel_touch["options"]["contacts"] == 10
    assert panel_touch["options"]["role"] == "touch"
