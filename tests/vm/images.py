"""The guest's kernel and initramfs, built from the host's own packages into build/vm/.

The kernel is Debian's `linux-image-amd64`, decompressed once to an ELF `vmlinux` that QEMU starts
through its PVH entry: the compressed image costs several seconds of decompression under software
emulation. The initramfs is busybox-static plus the few modules needed to mount the host's root over
9p (virtio, 9p, overlay); everything else the guest loads from the host's /lib/modules afterwards.
Both are cached under a hash of their inputs.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BUILD = REPO / "build" / "vm"
BUSYBOX = Path("/bin/busybox")

#: What the initramfs loads, in dependency order, to reach the host's root.
INITRAMFS_MODULES = (
    "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
    "netfs", "fscache", "9pnet", "9pnet_virtio", "9p", "overlay",
)

INSTALL_HINT = ("the VM tests need QEMU, Debian's kernel and busybox; install them as root: "
                "bash scripts/system-deps.sh test  (or: apt-get install -y --no-install-recommends "
                "qemu-system-x86 linux-image-amd64 busybox-static udev kmod, with tiny-initramfs "
                "before the kernel where no initramfs tool is installed)")


class MissingPackages(RuntimeError):
    pass


@dataclass(frozen=True)
class Images:
    kernel: Path
    initramfs: Path
    release: str


def kernel_release() -> str:
    modules = Path("/lib/modules")
    releases = sorted(p.name for p in modules.iterdir() if (Path("/boot") / f"vmlinuz-{p.name}").exists()) \
        if modules.is_dir() else []
    if not releases:
        raise MissingPackages(INSTALL_HINT)
    return releases[-1]


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _uncompressed_kernel(bzimage: Path) -> bytes | None:
    """The ELF vmlinux inside a bzImage compressed with xz (Debian's choice), or None."""
    data = bzimage.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    while start >= 0:
        try:
            out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
        except lzma.LZMAError:
            out = b""
        if out.startswith(b"\x7fELF"):
            return out
        start = data.find(b"\xfd7zXZ\x00", start + 1)
    return None


def _newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the kernel's `newc` format: (name, mode, data) entries."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\x00"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out += b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + encoded
        out += b"\x00" * (-len(out) % 4) + data
        out += b"\x00" * (-len(out) % 4)
    return bytes(out)


def _module_paths(release: str) -> list[Path]:
    root = Path("/lib/modules") / release
    by_name: dict[str, Path] = {}
    for line in (root / "modules.dep").read_text().splitlines():
        rel = line.split(":", 1)[0]
        by_name[Path(rel).name.split(".ko", 1)[0].replace("-", "_")] = root / rel
    missing = [m for m in INITRAMFS_MODULES if m not in by_name]
    if missing:
        raise MissingPackages(f"the kernel {release} has no modules {missing}; {INSTALL_HINT}")
    return [by_name[m] for m in INITRAMFS_MODULES]


def build(force: bool = False) -> Images:
    if shutil.which("qemu-system-x86_64") is None or not BUSYBOX.exists():
        raise MissingPackages(INSTALL_HINT)
    release = kernel_release()
    BUILD.mkdir(parents=True, exist_ok=True)
    bzimage = Path("/boot") / f"vmlinuz-{release}"
    st = bzimage.stat()
    kernel = BUILD / f"vmlinux-{release}-{_digest(str((st.st_size, st.st_mtime_ns)).encode())}"
    if force or not kernel.exists():
        elf = _uncompressed_kernel(bzimage)
        if elf is None:  # not xz: QEMU boots the bzImage itself, only slower
            kernel = bzimage
        else:
            tmp = kernel.with_suffix(".tmp")
            tmp.write_bytes(elf)
            tmp.replace(kernel)

    init = (HERE / "guest_init.sh").read_bytes()
    modules = _module_paths(release)
    busybox = BUSYBOX.read_bytes()
    initramfs = BUILD / f"initramfs-{_digest(init, busybox, *(m.read_bytes() for m in modules))}.cpio"
    if force or not initramfs.exists():
        dirs = ["bin", "dev", "proc", "sys", "host", "rw", "newroot", "modules"]
        entries: list[tuple[str, int, bytes]] = [(d, stat.S_IFDIR | 0o755, b"") for d in dirs]
        entries.append(("bin/busybox", stat.S_IFREG | 0o755, busybox))
        entries.append(("bin/sh", stat.S_IFLNK | 0o777, b"busybox"))
        entries.append(("init", stat.S_IFREG | 0o755, init))
        order = []
        for path in modules:
            entries.append((f"modules/{path.name}", stat.S_IFREG | 0o644, path.read_bytes()))
            order.append(path.name)
        entries.append(("modules/order", stat.S_IFREG | 0o644, ("\n".join(order) + "\n").encode()))
        tmp = initramfs.with_suffix(".tmp")
        tmp.write_bytes(_newc(entries))
        os.replace(tmp, initramfs)
    return Images(kernel=kernel, initramfs=initramfs, release=release)
