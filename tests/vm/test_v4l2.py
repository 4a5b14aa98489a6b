"""Scenario 3: the microscope through the real V4L2 code on the kernel's `vivid` test driver: format
negotiation (vivid has no MJPG), capture, snapshot and stream; the device unbound and the module
removed (the watchdog's offline with the placeholder), then loaded again (online)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.probe import Probe
from tests.vm.daemon import ROOT, GuestDaemon, mark, wait_new
from tests.vm.images import HERE
from tests.vm.machine import GUEST_OUT, Machine

pytestmark = pytest.mark.timeout(600)

DECLARED = '''
[[devices]]
id = "vm-scope"
kind = "microscope"
name = "vivid camera"
source = "/dev/video0"
width = 640
height = 480
fps = 10
stall_s = 5
reopen_max_s = 2
'''
#: One vivid instance with only a capture node: /dev/video0.
VIVID = ("modprobe", "vivid", "n_devs=1", "node_types=0x1")


@pytest.fixture
def vivid(vm: Machine) -> Iterator[Machine]:
    vm.run(*VIVID)
    vm.run("udevadm", "settle")
    yield vm
    vm.run("rmmod", "vivid", check=False)


def fetch(vm: Machine, url: str, name: str, limit: int = 0) -> tuple[int, str, bytes]:
    out = vm.run("python3", str(HERE / "guest_fetch.py"), url, f"{GUEST_OUT}/{name}",
                 *([str(limit)] if limit else []), timeout=90).stdout.split(maxsplit=1)
    return int(out[0]), out[1].strip() if len(out) > 1 else "", (vm.out / name).read_bytes()


def request(probe: Probe, action: str, args: dict[str, Any], transaction: int) -> Any:
    probe.publish(f"{ROOT}/vm-scope/request/{action}", json.dumps({**args, "transaction": transaction}))
    return probe.wait_topic(f"{ROOT}/vm-scope/response/{action}", 60, lambda r: r.get("transaction") == transaction)


def test_vivid_capture_snapshot_stream_unplug_and_back(vivid: Machine, guest_daemon: GuestDaemon) -> None:
    vm = vivid
    probe = guest_daemon.start(DECLARED)
    state = probe.wait_topic(f"{ROOT}/vm-scope", 120, lambda s: s.get("online") is True)
    assert state["status"] == "ready"
    # vivid offers no MJPG: the MJPG request reverts and OpenCV's V4L2 backend takes an uncompressed
    # format vivid has (BGR3 on this kernel; a UVC camera would give YUYV), encoded to JPEG here.
    assert state["format"] not in (None, "MJPG") and state["passthrough"] is False
    assert state["resolution"] == {"width": 640, "height": 480}

    reply = request(probe, "capture", {}, 1)
    assert reply["status"] == "ok", reply

    status, ctype, body = fetch(vm, state["snapshot_url"], "snapshot.jpg")
    assert (status, ctype) == (200, "image/jpeg") and body[:2] == b"\xff\xd8"
    status, ctype, body = fetch(vm, state["stream_url"], "stream.bin", 200_000)
    assert status == 200 and ctype.startswith("multipart/x-mixed-replace")
    assert body.count(b"\xff\xd8") >= 2, "fewer than two JPEG frames in the stream"

    # The kernel takes the camera away (the driver unbound, as an unplug does): the reader fails,
    # the device is lost, and the snapshot is the placeholder with 503.
    before = mark(probe)
    vm.sh("echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind")
    lost = wait_new(probe, f"{ROOT}/vm-scope", 90, lambda s: s.get("online") is False, before)
    assert lost["status"] in ("lost", "offline")
    status, ctype, body = fetch(vm, state["snapshot_url"], "placeholder.jpg")
    assert (status, ctype) == (503, "image/jpeg") and body[:2] == b"\xff\xd8"
    # The daemon let go of the node: the module can be removed.
    deadline = time.monotonic() + 60
    while vm.run("rmmod", "vivid", check=False).rc != 0:
        assert time.monotonic() < deadline, "vivid stays in use after the camera went away"
        time.sleep(1)

    before = mark(probe)
    vm.run(*VIVID)
    back = wait_new(probe, f"{ROOT}/vm-scope", 120, lambda s: s.get("online") is True, before)
    assert back["status"] == "ready" and back["format"] == state["format"]
