"""systemd's notify protocol, spoken directly: READY, STATUS, STOPPING and watchdog pings.

The protocol is one datagram of `KEY=VALUE` lines to the socket named by `$NOTIFY_SOCKET`
(sd_notify(3)); it is small enough that a dependency would add more than it saves. The watchdog
ping is sent by a task on the daemon's own event loop, so a loop that blocks stops the pings and
systemd restarts the service (`WatchdogSec=`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

log = logging.getLogger("classroomd.systemd")


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written with a leading '@'.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, **fields: str) -> None:
        if not self.address:
            return
        message = "".join(f"{key}={value}\n" for key, value in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:
            if not self._failed:  # once: a missing socket must not flood the journal
                log.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), exc)
                self._failed = True

    def ready(self, status: str) -> None:
        self.send(READY="1", STATUS=status)

    def status(self, status: str) -> None:
        self.send(STATUS=status)

    def stopping(self) -> None:
        self.send(STOPPING="1", STATUS="stopping")

    async def run(self, describe: Callable[[], str], status_every_s: float = 10.0) -> None:
        """Ping the watchdog at half its period and refresh STATUS, until cancelled."""
        ping_every = self.watchdog_s / 2 if self.watchdog_s else None
        period = min(p for p in (ping_every, status_every_s) if p is not None)
        loop = asyncio.get_running_loop()
        next_status = loop.time()
        while True:
            if ping_every is not None:
                self.send(WATCHDOG="1")
            if loop.time() >= next_status:
                self.status(describe())
                next_status = loop.time() + status_every_s
            await asyncio.sleep(period)
