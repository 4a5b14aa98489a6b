"""Boot a root file system of its own (an installed Debian root) with systemd as init, under QEMU.

The same kernel and initramfs as the rest of tests/vm; the root is shared read-only over 9p under a
tmpfs overlay, and the guest writes what it has to say to the results share, then powers off.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.vm.images import Images


def boot_root(images: Images, root: Path, out: Path, console: Path, timeout: float = 600.0) -> None:
    """Run the guest until it powers itself off; raises TimeoutError with the console's tail."""
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o1777)
    append = ("console=ttyS0 loglevel=4 panic=-1 net.ifnames=0 tsc=reliable "
              "classroomd.init=/lib/systemd/systemd systemd.unit=multi-user.target systemd.show_status=1")
    command = [
        "qemu-system-x86_64", "-accel", "tcg,thread=multi", "-cpu", "max", "-machine", "q35", "-smp", "2",
        "-m", "1536", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", str(images.kernel), "-initrd", str(images.initramfs), "-append", append,
        "-serial", f"file:{console}",
        "-virtfs", f"local,path={root},mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={out},mount_tag=results,security_model=none,multidevs=remap",
    ]
    try:
        subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        tail = console.read_text(errors="replace")[-4000:] if console.exists() else ""
        raise TimeoutError(f"the systemd guest did not power off within {timeout:g}s; console:\n{tail}") from None
