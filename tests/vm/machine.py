"""One QEMU guest driven from the host: QMP for hot-plug, a command service for the guest's shell.

The guest boots Debian's kernel on the host's own root (9p, read-only, under a tmpfs overlay), so
the venv, the checkout and the host's udev rules are the guest's too. `build/vm/out` is shared
writable (the guest's /mnt/vm-out) for logs and results; the console goes to
`build/vm/console.log`.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.vm.images import BUILD, HERE, Images

GUEST_OUT = "/mnt/vm-out"
AGENT_PORT = "org.classroomd.agent"


class GuestError(RuntimeError):
    pass


def _connect_unix(path: Path, timeout: float) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Qmp:
    """QEMU's machine protocol: JSON commands, replies in order, events on the side."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = _connect_unix(path, timeout)
        self.file = self.sock.makefile("rwb")
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._read()  # the greeting
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise GuestError("QMP closed: QEMU exited")
        msg: dict[str, Any] = json.loads(line)
        return msg

    def execute(self, command: str, **arguments: Any) -> Any:
        with self.lock:
            self.file.write(json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n")
            self.file.flush()
            while True:
                msg = self._read()
                if "event" in msg:
                    self.events.append(msg)
                    continue
                if "error" in msg:
                    raise GuestError(f"QMP {command}: {msg['error'].get('desc')}")
                return msg.get("return")

    def close(self) -> None:
        self.sock.close()


@dataclass
class Result:
    rc: int | None
    stdout: str
    stderr: str

    def check(self) -> Result:
        if self.rc != 0:
            raise GuestError(f"guest command failed ({self.rc}): {self.stderr or self.stdout}")
        return self


class Agent:
    """The host end of the guest's command service (tests/vm/guest_agent.py)."""

    def __init__(self, path: Path) -> None:
        self.sock = _connect_unix(path, 10.0)
        self.ids = itertools.count(1)
        self.replies: dict[int, dict[str, Any]] = {}
        self.cond = threading.Condition()
        self.closed = False
        threading.Thread(target=self._reader, daemon=True, name="vm-agent").start()

    def _reader(self) -> None:
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cond:
                    self.closed = True
                    self.cond.notify_all()
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # the port's first bytes may be what the guest wrote before we connected
                with self.cond:
                    self.replies[msg.get("id")] = msg
                    self.cond.notify_all()

    def request(self, op: str, timeout: float = 60.0, **args: Any) -> dict[str, Any]:
        req_id = next(self.ids)
        self.sock.sendall(json.dumps({"id": req_id, "op": op, **args}).encode() + b"\n")
        deadline = time.monotonic() + timeout
        with self.cond:
            while req_id not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise TimeoutError(f"the guest did not answer {op} {args} in {timeout}s")
                self.cond.wait(left)
            reply = self.replies.pop(req_id)
        if "error" in reply:
            raise GuestError(reply["error"])
        return reply

    def close(self) -> None:
        self.sock.close()


@dataclass
class Machine:
    images: Images
    accel: str = "tcg"
    memory_mb: int = 1536
    #: Guest port 1883 is not used: the guest reaches the host's loopback as 10.0.2.2 (slirp).
    dir: Path = BUILD
    proc: subprocess.Popen[bytes] | None = None
    qmp: Qmp | None = None
    agent: Agent | None = None
    boot_seconds: float = 0.0
    _hotplugged: set[str] = field(default_factory=set)

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def out(self) -> Path:
        """The host side of the guest's /mnt/vm-out."""
        return self.dir / "out"

    def command(self) -> list[str]:
        run = self.dir / "run"
        stage = HERE / "guest_boot.sh"
        append = (f"console=ttyS0 loglevel=4 panic=-1 net.ifnames=0 tsc=reliable "
                  f"classroomd.stage={stage}")
        # `-cpu max` under TCG: the default qemu64 model lacks the SSE4/AVX that the OpenCV and numpy
        # wheels are built for (the daemon dies of SIGILL on import).
        accel = (["-accel", "kvm", "-cpu", "host"] if self.accel == "kvm"
                 else ["-accel", "tcg,thread=multi", "-cpu", "max"])
        return [
            "qemu-system-x86_64", *accel, "-machine", "q35", "-smp", "2", "-m", str(self.memory_mb),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", str(self.images.kernel), "-initrd", str(self.images.initramfs), "-append", append,
            "-serial", f"file:{self.console_log}",
            "-qmp", f"unix:{run / 'qmp.sock'},server=on,wait=off",
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={self.out},mount_tag=results,security_model=none,multidevs=remap",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=agent,path={run / 'agent.sock'},server=on,wait=off",
            "-device", f"virtserialport,chardev=agent,name={AGENT_PORT}",
            "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-device", "qemu-xhci,id=xhci",
        ]

    def start(self, timeout: float = 240.0) -> None:
        run = self.dir / "run"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir(parents=True)
        os.chmod(self.out, 0o1777)
        self.console_log.unlink(missing_ok=True)
        started = time.monotonic()
        with open(self.dir / "qemu.log", "wb") as qemu_log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=qemu_log,
                                         stderr=subprocess.STDOUT)
        try:
            self.qmp = Qmp(run / "qmp.sock")
            self.agent = Agent(run / "agent.sock")
            self._wait_ready(started + timeout)
        except OSError as exc:  # QEMU exited before its sockets listened (KVM that cannot run a guest)
            self.stop()
            raise GuestError(f"QEMU did not start ({exc}): {self.qemu_output()}") from exc
        except BaseException:
            self.stop()
            raise
        self.boot_seconds = time.monotonic() - started

    def _wait_ready(self, deadline: float) -> None:
        assert self.agent is not None and self.proc is not None
        while True:
            if self.proc.poll() is not None:
                raise GuestError(f"QEMU exited with {self.proc.returncode}: {self.qemu_output()}")
            try:
                self.agent.request("ping", timeout=2.0)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise GuestError("the guest did not come up; console:\n" + self.console_tail()) from None

    def qemu_output(self) -> str:
        path = self.dir / "qemu.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def console_tail(self, chars: int = 6000) -> str:
        if not self.console_log.exists():
            return "(no console output)"
        return self.console_log.read_text(errors="replace")[-chars:]

    # --- the guest's shell ------------------------------------------------------------------------
    def run(self, *argv: str, timeout: float = 120.0, check: bool = True, user: int | None = None,
            env: dict[str, str] | None = None, input: str = "") -> Result:
        assert self.agent is not None
        reply = self.agent.request("run", timeout=timeout + 30, argv=list(argv), timeout_s=timeout,
                                   user=user, env=env or {}, input=input)
        result = Result(reply.get("rc"), reply.get("stdout", ""), reply.get("stderr", ""))
        return result.check() if check else result

    def sh(self, script: str, timeout: float = 120.0, check: bool = True) -> Result:
        return self.run("/bin/sh", "-c", script, timeout=timeout, check=check)

    def spawn(self, *argv: str, log: str | None = None, user: int | None = None,
              env: dict[str, str] | None = None, cwd: str | None = None) -> int:
        assert self.agent is not None
        pid: int = self.agent.request("spawn", argv=list(argv), log=log, user=user, env=env or {},
                                      cwd=cwd)["pid"]
        return pid

    def terminate(self, pid: int, timeout: float = 60.0) -> int | None:
        assert self.agent is not None
        self.agent.request("signal", pid=pid, sig=15)
        rc: int | None = self.agent.request("wait", timeout=timeout + 10, pid=pid, timeout_s=timeout).get("rc")
        if rc is None:
            self.agent.request("signal", pid=pid, sig=9)
        return rc

    def wait_until(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout}s")
            time.sleep(0.2)

    # --- hot-plug ---------------------------------------------------------------------------------
    def plug(self, driver: str, dev_id: str, **props: Any) -> None:
        assert self.qmp is not None
        # QEMU drops an unplugged device from the tree before it lets go of its chardev; under load a
        # replug can come in between and be told the chardev "is in use" for a moment.
        deadline = time.monotonic() + 15
        while True:
            try:
                self.qmp.execute("device_add", driver=driver, id=dev_id, bus="xhci.0", **props)
                break
            except GuestError as exc:
                if "is in use" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self._hotplugged.add(dev_id)

    def plugged(self) -> set[str]:
        assert self.qmp is not None
        return {p["name"] for p in self.qmp.execute("qom-list", path="/machine/peripheral")
                if p["type"].startswith("child<")}

    def unplug(self, dev_id: str, timeout: float = 30.0) -> None:
        """device_del, and wait until QEMU has let go of it (its chardev is free again)."""
        assert self.qmp is not None
        self.qmp.execute("device_del", id=dev_id)
        self.wait_until(lambda: dev_id not in self.plugged(), timeout, f"QEMU removing {dev_id}")
        self._hotplugged.discard(dev_id)

    def unplug_all(self) -> None:
        for dev_id in list(self._hotplugged):
            self.unplug(dev_id)

    def stop(self) -> None:
        for conn in (self.agent, self.qmp):
            if conn is not None:
                try:
                    if conn is self.qmp:
                        self.qmp.execute("quit")
                except (GuestError, OSError):
                    pass
                conn.close()
        self.agent = self.qmp = None
        if self.proc is not None:
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def boot(images: Images, kvm_timeout: float = 60.0, tcg_timeout: float = 300.0) -> Machine:
    """A running guest: with KVM where it works, else software emulation.

    `/dev/kvm` exists on machines where it cannot run this guest (a nested paravirtual KVM: QEMU
    aborts setting an MSR), so KVM is tried, not trusted.
    """
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        machine = Machine(images, accel="kvm")
        try:
            machine.start(kvm_timeout)
            return machine
        except (GuestError, TimeoutError) as exc:
            (BUILD / "kvm-refused.log").write_text(f"{exc}\n")
    machine = Machine(images, accel="tcg")
    machine.start(tcg_timeout)
    return machine
