"""Hot-plug latency through a real kernel: QEMU monitor command → MQTT inventory.

Run (as root): .venv/bin/python bench/vm_hotplug.py [cycles]   (default 5)

Boots the guest of tests/vm (Debian's kernel on the host's root, the host's udevd; KVM when it
works, else software emulation), starts the real daemon in it against a Mosquitto on the host, and
plugs QEMU's Wacom tablet from the monitor `cycles` times. Prints, per cycle, the time from
`device_add` to the inventory listing the tablet online, and from `device_del` to its state `lost`.
The first plug also loads the kernel's usbhid and wacom modules.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.mosquitto import Mosquitto
from tests.vm import images
from tests.vm.daemon import ROOT, GuestDaemon, device, mark, wait_new
from tests.vm.machine import boot
from tests.vm.test_hotplug import TABLET_ID, TABLET_SERIAL


def main(cycles: int) -> None:
    machine = boot(images.build())
    print(f"guest: {machine.accel}, up in {machine.boot_seconds:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        daemon = GuestDaemon(machine, broker.port)
        try:
            probe = daemon.start()
            plugs, unplugs = [], []
            for cycle in range(cycles):
                before = mark(probe)
                sent = time.monotonic()
                machine.plug("usb-wacom-tablet", "wacom", serial=TABLET_SERIAL)
                wait_new(probe, f"{ROOT}/devices", 120,
                         lambda inv: (device(inv, id=TABLET_ID) or {}).get("availability") == "online", before)
                plugs.append(time.monotonic() - sent)
                before = mark(probe)
                sent = time.monotonic()
                machine.unplug("wacom")
                wait_new(probe, f"{ROOT}/{TABLET_ID}", 120, lambda s: s.get("status") == "lost", before)
                unplugs.append(time.monotonic() - sent)
                print(f"cycle {cycle + 1}: device_add → inventory online {plugs[-1]:.2f}s, "
                      f"device_del → lost {unplugs[-1]:.2f}s")
            later = plugs[1:] or plugs
            print(f"plug (after the first, which loads the modules): median {statistics.median(later):.2f}s, "
                  f"max {max(later):.2f}s; unplug: median {statistics.median(unplugs):.2f}s")
        finally:
            daemon.stop()
            broker.stop()
            machine.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
