"""The real `classroomd run` inside the guest, with its config, its log on the results share and a
host-side MQTT probe on the broker it talks to."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.probe import Probe, Received
from tests.vm.images import REPO
from tests.vm.machine import GUEST_OUT, Machine

SITE, ROOM = "lab", "vm"
ROOT = f"classroom/{SITE}/{ROOM}"
#: The venv's interpreter, seen by the guest at the same path (the host's root is the guest's).
PYTHON = str(Path(sys.prefix) / "bin" / "python")


def device(inventory: list[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    return next((d for d in inventory if all(d.get(k) == v for k, v in where.items())), None)


def wait_new(probe: Probe, topic: str, timeout: float, where: Callable[[Any], bool],
             after: int) -> Any:
    """The first message on `topic` matching `where` among those after the first `after` received."""
    with probe.lock:
        old = {id(m) for m in probe.messages[:after]}

    def match(m: Received) -> bool:
        return m.topic == topic and bool(m.payload) and id(m) not in old and where(m.json())
    return probe.wait_for(match, timeout).json()


def mark(probe: Probe) -> int:
    with probe.lock:
        return len(probe.messages)


class GuestDaemon:
    def __init__(self, machine: Machine, broker_port: int) -> None:
        self.machine = machine
        self.broker_port = broker_port
        self.pid: int | None = None
        self.probe: Probe | None = None
        self.state_dir = "/var/lib/classroomd-vm"

    def config_text(self, extra: str = "") -> str:
        return (f'site = "{SITE}"\nroom = "{ROOM}"\n'
                f'[mqtt]\nurl = "mqtt://10.0.2.2:{self.broker_port}"\nreconnect_max_s = 2\n'
                f'[http]\nlisten = "127.0.0.1:8080"\n'
                f'[agent]\nstate_dir = "{self.state_dir}"\nhealth_interval_s = 60\nmdns = false\n'
                f'reopen_min_s = 1\nreopen_max_s = 4\nlanguage = "en"\n{extra}')

    def start(self, extra_config: str = "", user: int | None = None, timeout: float = 120.0,
              wait_online: bool = True, extra_env: dict[str, str] | None = None) -> Probe:
        """Start the daemon; `extra_config` is appended (its own tables, `[[devices]]` entries)."""
        out = self.machine.out
        (out / "classroomd.toml").write_text(self.config_text(extra_config))
        (out / "daemon.log").unlink(missing_ok=True)
        self.machine.sh(f"rm -rf {self.state_dir} && mkdir -p {self.state_dir}"
                        + (f" && chown {user}:{user} {self.state_dir}" if user is not None else ""))
        self.probe = Probe(self.broker_port).connect()
        self.probe.subscribe(f"{ROOT}/#")
        self.pid = self.machine.spawn(PYTHON, "-m", "classroomd", "run", "--config",
                                      f"{GUEST_OUT}/classroomd.toml", log=f"{GUEST_OUT}/daemon.log",
                                      user=user, cwd=str(REPO),
                                      env={"PYTHONUNBUFFERED": "1", **(extra_env or {})})
        if wait_online:
            self.wait(lambda: bool(self.probe and self.probe.on(f"{ROOT}/agent")
                                   and self.probe.on(f"{ROOT}/agent")[-1].json().get("state") == "online"),
                      timeout, "the daemon online on MQTT")
        return self.probe

    def exited(self) -> int | None:
        """The daemon's exit code once it has exited, else None."""
        if self.pid is None or self.machine.agent is None:
            return None
        rc: int | None = self.machine.agent.request("wait", pid=self.pid, timeout_s=0).get("rc")
        return rc

    def wait(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `check`, failing at once with the daemon's log when the daemon has exited."""
        deadline = time.monotonic() + timeout
        while not check():
            rc = self.exited()
            if rc is not None:
                raise AssertionError(f"the daemon exited ({rc}) waiting for {what}:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {timeout}s")
            time.sleep(0.5)

    def log(self) -> str:
        path = self.machine.out / "daemon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not in the daemon's log after {timeout}s:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.pid is not None:
            self.machine.terminate(self.pid, timeout=30)
            self.pid = None
        if self.probe is not None:
            self.probe.close()
            self.probe = None
