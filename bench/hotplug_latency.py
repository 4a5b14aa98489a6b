"""Hot-plug latency from a udev uevent to the broker, and the daemon's fds and threads over many cycles.

Run: .venv/bin/python bench/hotplug_latency.py [cycles] [--leak-cycles N]
     (defaults: 200 timed cycles; 400 cycles between the fd/thread counts, see LEAK_CYCLES_DEFAULT)

The real daemon (`python -m classroomd run`, discovery on, mDNS off) runs as the child of a
Python under `umockdev-wrapper` that owns a `UMockdev.Testbed`, as
tests/discovery/test_daemon_hotplug.py does; it talks to a real Mosquitto on a free port, and an
independent MQTT client (tests/support/probe.py) watches the classroom's topics.

One cycle plugs the wacom fixture (its `.umockdev` records plus its evdev ioctl replays, what
`add_fixture` does, but with the ioctl replays loaded first and the records added parents first,
as the kernel adds them) and waits until the broker shows the tablet online, then unplugs it (a
`remove` uevent and `remove_device` for each of its sysfs records, children first) and waits until
the broker shows it lost. The testbed process stamps `time.time()` right before `add_from_string`
/ the first `uevent(.., "remove")` and reports it as JSON; the probe stamps `time.time()` when an
MQTT message arrives (same host, same clock). Plug latency is printed twice: to the first inventory
(`…/devices`) listing the tablet not lost, and to its `…/availability` saying `online` (the node
is open: usable in a lesson); unplug latency is to the first inventory saying `lost`.

umockdev 0.17 keeps a removed node's name reserved, so every plug gets fresh event/hidraw numbers
(as the kernel does while an old node is still held open); the tablet's id comes from its USB
serial and stays the same.

The daemon's open fds (/proc/PID/fd) and threads (/proc/PID/status) are counted after one warm-up
cycle and again after the leak cycles (the timed cycles count towards them).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import re
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script from the repo root: `tests.support` must be importable next to `classroomd`.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402

from classroomd.bus.classroom_bus import STATE_FLUSH_S, STATE_GATHER_S  # noqa: E402
from classroomd.daemon.discovery import Discovery  # noqa: E402
from tests.support.mosquitto import Mosquitto, free_port  # noqa: E402
from tests.support.probe import Probe, Received  # noqa: E402
from tests.support.umockdev import FIXTURES, TestbedProcess, gi_available  # noqa: E402

FIXTURE = "wacom"  # an input device: it goes online without a probe (a printer waits 4 s for M115)
SITE, ROOM = "lab", "biology"
TOPIC_ROOT = f"classroom/{SITE}/{ROOM}"
INVENTORY = f"{TOPIC_ROOT}/devices"
TARGET_P99_MS = 250.0
CYCLES_DEFAULT = 200
#: One daemon cycle takes ~0.4 s (two settle + publish waits, see `design_floor_ms`), so 1,000
#: cycles take ~12 minutes (724 s measured); 400 keeps the default run under ~5 minutes.
LEAK_CYCLES_DEFAULT = 400
LEAK_CYCLES_TARGET = 1000
#: How long one broker confirmation may take before the run is aborted.
STEP_TIMEOUT_S = 15.0
#: Quiet time before counting fds and threads, so transient ones (the retained-state file being
#: replaced, a publish in flight) are not counted on one side only.
SNAPSHOT_SETTLE_S = 1.5
#: Rough testbed fds per cycle: umockdev 0.17 keeps a pty per node it ever created, plus sockets.
TESTBED_FDS_PER_CYCLE = 8

# The testbed process. The daemon is its child, so it inherits the LD_PRELOAD umockdev-wrapper set
# and sees the testbed through UMOCKDEV_DIR. Each stdin line is one command.
DRIVER = r"""
import os, re, resource, signal, subprocess, time
# The testbed keeps an fd per node it ever created: allow as many as the hard limit does.
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
except (ValueError, OSError):  # an unlimited hard limit cannot be the soft one: keep what we have
    pass
os.environ["UMOCKDEV_DIR"] = testbed.get_root_dir()
daemon = subprocess.Popen([PYTHON, "-m", "classroomd", "run", "--config", CONFIG],
                          stdout=open(LOG, "wb"), stderr=subprocess.STDOUT)
manifest = json.load(open(os.path.join(FIXTURE_DIR_, "fixtures.json")))[NAME]
text = open(os.path.join(FIXTURE_DIR_, manifest["umockdev"])).read()
next_number = [1000]
current = []

def fresh():
    # umockdev 0.17 keeps a removed node's name reserved (creating it again aborts the testbed),
    # so every plug gets fresh event/hidraw numbers, as the kernel does while old ones are held.
    names = {}
    def rename(m):
        if m.group(0) not in names:
            names[m.group(0)] = f"{m.group(1)}{next_number[0]}"
            next_number[0] += 1
        return names[m.group(0)]
    blocks = []
    for block in re.sub(r"\b(event|hidraw)(\d+)\b", rename, text).strip().split("\n\n"):
        node = re.search(r"^N: \S*?(\d+)$", block, re.M)
        if node:  # keep each node's dev_t unique too: major as shipped, minor = the new number
            block = re.sub(r"^A: dev=(\d+):\d+$", lambda m: f"A: dev={m.group(1)}:{node.group(1)}", block,
                           flags=re.M)
        blocks.append(block)
    ioctls = {re.sub(r"\b(event|hidraw)(\d+)\b", rename, node): os.path.join(FIXTURE_DIR_, file)
              for node, file in manifest["ioctl"].items()}
    removal = ["/sys" + re.match(r"P: (.+)", block).group(1) for block in blocks]  # children first
    # umockdev adds records in the order given, each with its own add uevent. The fixture lists
    # children first (umockdev-record's order); the kernel adds parents first. In the file's order
    # a discovery pass that falls between two records (100 ms settle, a busy machine) sees event
    # nodes without their USB parent and makes up a device; in the kernel's order it sees at worst
    # part of the tablet, which a real plug can show too.
    return "\n\n".join(reversed(blocks)) + "\n", ioctls, removal

emit(event="ready", pid=daemon.pid)
try:
    for line in sys.stdin:
        verb = line.strip()
        if verb == "plug":
            plug_text, ioctls, removal = fresh()  # not timed: the bench's work, not the daemon's
            # The ioctl replays go first: a real node answers ioctls the moment it exists, and
            # load_ioctl needs no node. Loaded after the uevents, a pass that is quick enough opens
            # a node with no replay, and the preload fails ("Failed to connect to ioctl socket").
            for node, file in ioctls.items():
                testbed.load_ioctl(node, file)
            t = time.time()
            testbed.add_from_string(plug_text)  # emits the add uevents
            current = removal
            emit(event="plugged", t=t)
        elif verb == "unplug":
            t = time.time()
            for syspath in current:  # children first, as the fixture lists them and the kernel does
                testbed.uevent(syspath, "remove")
                testbed.remove_device(syspath)
            current = []
            emit(event="unplugged", t=t)
finally:
    # stdin closed (or an error here): the daemon must not outlive its testbed.
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(20)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    emit(event="stopped", rc=daemon.returncode)
"""


class TimedProbe(Probe):
    """The test probe, plus the wall-clock arrival time of every message (same index as `messages`)."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.arrived: list[float] = []

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()  # before taking the lock: waiting for it is the bench's time, not the daemon's
        with self.lock:
            self.arrived.append(now)
            super()._on_message(client, userdata, msg)  # the Condition is re-entrant

    def count(self) -> int:
        with self.lock:
            return len(self.messages)

    def first_after(self, start: int, predicate: Callable[[Received], bool], timeout: float) -> float:
        """Arrival time of the first message from index `start` on that fits `predicate`."""
        deadline = time.monotonic() + timeout
        with self.lock:
            seen = start
            while True:
                for i in range(seen, len(self.messages)):
                    if predicate(self.messages[i]):
                        return self.arrived[i]
                seen = len(self.messages)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching message within {timeout}s")
                self.lock.wait(left)


def inventory_items(msg: Received) -> list[dict[str, Any]]:
    if msg.topic != INVENTORY or not msg.payload:
        return []
    body = msg.json()
    items = body.get("data", []) if isinstance(body, dict) else body  # bare list today; tolerate an envelope
    return [d for d in items if isinstance(d, dict)]


def inventory_status(msg: Received, device_id: str) -> str | None:
    """The device's status in an inventory message; None if it is not an inventory or lacks it."""
    return next((str(d.get("status")) for d in inventory_items(msg) if d.get("id") == device_id), None)


@dataclass
class Cycle:
    listed_ms: float
    online_ms: float
    lost_ms: float


@dataclass
class Snapshot:
    fds: int
    threads: int
    kinds: dict[str, int]  # fd target with inode numbers stripped (socket:, anon_inode:…, a path)


def snapshot(pid: int) -> Snapshot:
    kinds: dict[str, int] = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # an fd closed between listing and reading
            kind = re.sub(r"\[\d+\]$", "", os.readlink(fd))  # so a leak says what kind of fd leaks
            kinds[kind] = kinds.get(kind, 0) + 1
    status = Path(f"/proc/{pid}/status").read_text()
    threads = re.search(r"^Threads:\s+(\d+)$", status, re.M)
    return Snapshot(sum(kinds.values()), int(threads.group(1)) if threads else -1, kinds)


def _alive(pid: int) -> bool:
    """The daemon we started still runs (not gone, not a zombie, not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = re.search(r"^State:\s+(\S)", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return False
    return b"classroomd" in cmdline and (state is None or state.group(1) != "Z")


class Classroom:
    """Mosquitto, the testbed process with the daemon, and the probe; `close()` undoes all of it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.mosquitto = Mosquitto(tmp / "mosquitto")
        self.testbed: TestbedProcess | None = None
        self.probe: TimedProbe | None = None
        self.daemon_pid = 0
        self.device_id = ""

    @property
    def log(self) -> Path:
        return self.tmp / "daemon.log"

    def start(self) -> None:
        self.mosquitto.start()
        config = self.tmp / "classroom.toml"
        config.write_text(f'site = "{SITE}"\nroom = "{ROOM}"\n[mqtt]\nurl = "{self.mosquitto.url}"\n'
                          f'[http]\nlisten = "127.0.0.1:{free_port()}"\n'
                          f'[agent]\nstate_dir = "{self.tmp / "state"}"\nhealth_interval_s = 60\n'
                          "discovery = true\nmdns = false\n")
        head = (f"PYTHON = {sys.executable!r}\nCONFIG = {str(config)!r}\nLOG = {str(self.log)!r}\n"
                f"FIXTURE_DIR_ = {str(FIXTURES)!r}\nNAME = {FIXTURE!r}\n")
        self.testbed = TestbedProcess(head + DRIVER)
        self.daemon_pid = int(self.testbed.expect(timeout=20, event="ready")["pid"])
        probe = self.probe = TimedProbe(self.mosquitto.port)
        probe.connect()
        probe.subscribe(f"{TOPIC_ROOT}/#")
        probe.wait_topic(f"{TOPIC_ROOT}/agent", 30, lambda a: a.get("state") == "online")

    def cycle(self) -> Cycle:
        assert self.testbed is not None and self.probe is not None
        probe = self.probe
        start = probe.count()
        self.testbed.send("plug")
        plugged = float(self.testbed.expect(timeout=STEP_TIMEOUT_S, event="plugged")["t"])
        if not self.device_id:  # the first plug names the device: whatever the empty inventory gains
            probe.first_after(start, self._learn_device_id, STEP_TIMEOUT_S)
        dev = self.device_id
        listed = probe.first_after(start, lambda m: inventory_status(m, dev) not in (None, "lost"), STEP_TIMEOUT_S)
        online = probe.first_after(
            start, lambda m: m.topic == f"{TOPIC_ROOT}/{dev}/availability" and m.payload == b"online",
            STEP_TIMEOUT_S)
        start = probe.count()
        self.testbed.send("unplug")
        unplugged = float(self.testbed.expect(timeout=STEP_TIMEOUT_S, event="unplugged")["t"])
        lost = probe.first_after(start, lambda m: inventory_status(m, dev) == "lost", STEP_TIMEOUT_S)
        return Cycle((listed - plugged) * 1000, (online - plugged) * 1000, (lost - unplugged) * 1000)

    def _learn_device_id(self, msg: Received) -> bool:
        found = next((d for d in inventory_items(msg) if d.get("status") != "lost"), None)
        if found is not None:
            self.device_id = str(found["id"])
        return found is not None

    def quiet_snapshot(self) -> Snapshot:
        time.sleep(SNAPSHOT_SETTLE_S)
        return snapshot(self.daemon_pid)

    def close(self) -> None:
        # Each step on its own: one failing must not leave the others running.
        try:
            if self.probe is not None:
                with contextlib.suppress(Exception):
                    self.probe.close()
            try:
                if self.testbed is not None:
                    self.testbed.close()  # closes its stdin: the driver stops the daemon, then exits
            finally:
                if self.daemon_pid and _alive(self.daemon_pid):
                    # The testbed process died before it could stop its child: stop it by its pid.
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.daemon_pid, signal.SIGKILL)
        finally:
            self.mosquitto.stop()


@contextlib.contextmanager
def classroom() -> Iterator[Classroom]:
    with tempfile.TemporaryDirectory(prefix="hotplug-bench-") as tmp:
        room = Classroom(Path(tmp))
        try:
            room.start()
            yield room
        except Exception:  # not on Ctrl-C or kill: the user knows why it stopped
            if room.log.exists():  # the daemon's last words explain most failures
                print("--- daemon log (tail) ---\n" + room.log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            room.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def latency_line(label: str, values: list[float]) -> str:
    p99 = pct(values, 0.99)
    verdict = "ok" if p99 < TARGET_P99_MS else "MISSED"
    return (f"  {label:<36} p50 {statistics.median(values):6.1f} ms  p99 {p99:6.1f} ms  "
            f"max {max(values):6.1f} ms   (target p99 < {TARGET_P99_MS:.0f} ms: {verdict})")


def design_floor_ms() -> tuple[float, float]:
    """Discovery's settle time and the bus's gathering of a first change: waits every report includes."""
    settle = inspect.signature(Discovery).parameters["settle_s"].default
    return float(settle) * 1000, STATE_GATHER_S * 1000


def run(cycles: int, leak_cycles: int) -> None:
    total = max(cycles, leak_cycles)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < TESTBED_FDS_PER_CYCLE * (total + 1) + 100:
        print(f"warning: the umockdev testbed needs ~{TESTBED_FDS_PER_CYCLE} fds per cycle and the hard "
              f"limit is {hard}: it may run out before {total} cycles", flush=True)
    with classroom() as room:
        warm = room.cycle()  # the first plug pays for imports and the first evdev open: not steady state
        before = room.quiet_snapshot()
        print(f"device {room.device_id} ({FIXTURE} fixture), daemon pid {room.daemon_pid}")
        print(f"first plug (cold): listed {warm.listed_ms:.1f} ms, online {warm.online_ms:.1f} ms; "
              f"unplug: lost {warm.lost_ms:.1f} ms")
        results: list[Cycle] = []
        started = time.monotonic()
        for i in range(total):
            result = room.cycle()
            if i < cycles:
                results.append(result)
            if i == cycles - 1:
                per_cycle = (time.monotonic() - started) / cycles
                settle, flush = design_floor_ms()
                print(f"\nhot-plug latency over {cycles} plug/unplug cycles ({per_cycle * 1000:.0f} ms per cycle):")
                print(latency_line("uevent add -> inventory lists it", [r.listed_ms for r in results]))
                print(latency_line("uevent add -> availability online", [r.online_ms for r in results]))
                print(latency_line("uevent remove -> inventory says lost", [r.lost_ms for r in results]))
                print(f"  by design every report includes discovery's settle ({settle:.0f} ms) and the bus's "
                      f"gathering of a first change ({flush:.0f} ms); changes less than {STATE_FLUSH_S * 1000:.0f} ms "
                      "after the previous publish (back-to-back cycles like these) wait for the state throttle")
                if total > cycles:
                    print(f"\ncontinuing to {total} cycles for the fd/thread counts "
                          f"(~{per_cycle * (total - cycles):.0f} s more) …", flush=True)
        elapsed = time.monotonic() - started
        after = room.quiet_snapshot()
        if not results:
            print("no timed cycles (cycles = 0)")
    print(f"\ndaemon fds and threads after 1 warm-up cycle, and after {total} more cycles ({elapsed:.0f} s):")
    for label, a, b in (("open fds", before.fds, after.fds), ("threads", before.threads, after.threads)):
        print(f"  {label:<9} before {a:4d}   after {b:4d}   (target: equal: {'ok' if a == b else 'MISSED'})")
    for kind in sorted(set(before.kinds) | set(after.kinds)):
        a, b = before.kinds.get(kind, 0), after.kinds.get(kind, 0)
        if a != b:
            print(f"    {kind}: {a} -> {b}")
    if total < LEAK_CYCLES_TARGET:
        seconds = elapsed / total if total else 0.65
        print(f"  note: {total} cycles, not {LEAK_CYCLES_TARGET}: {LEAK_CYCLES_TARGET} daemon cycles take "
              f"~{seconds * LEAK_CYCLES_TARGET / 60:.0f} min, over this bench's ~5 min default; "
              f"run with --leak-cycles {LEAK_CYCLES_TARGET} for the full count")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("cycles", nargs="?", type=int, default=CYCLES_DEFAULT,
                        help=f"plug/unplug cycles timed for latency (default {CYCLES_DEFAULT})")
    parser.add_argument("--leak-cycles", type=int, default=LEAK_CYCLES_DEFAULT,
                        help=f"cycles between the fd/thread counts (default {LEAK_CYCLES_DEFAULT}, "
                             f"{LEAK_CYCLES_TARGET} take ~12 min); the timed cycles count towards them")
    args = parser.parse_args()
    if args.cycles < 0 or args.leak_cycles < 0:
        parser.error("cycle counts must not be negative")
    if not gi_available():
        sys.exit("umockdev-wrapper or python3-gi/gir1.2-umockdev-1.0 missing (scripts/system-deps.sh installs them)")
    # Stopped by `kill` or Ctrl-C, still unwind through `classroom()` so Mosquitto, the testbed and
    # the daemon are stopped; SIGINT is set explicitly because a backgrounded shell job ignores it.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run(args.cycles, args.leak_cycles)
    except KeyboardInterrupt:
        sys.exit("interrupted; everything it started is stopped")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    main()
