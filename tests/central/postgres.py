"""A throw-away PostgreSQL for the tests: initdb + postgres from Debian's package, on a free
port in a temporary directory, never the machine's own server.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as
`nobody` (through runuser) in a directory handed to it.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.support.mosquitto import free_port, wait_port

NOBODY = 65534


def pg_bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (scripts/system-deps.sh test)")
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    port: int = 0
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="central-pg-")))
    proc: subprocess.Popen[bytes] | None = None
    user: str = "central"
    _log: IO[bytes] | None = None

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else argv

    def start(self) -> None:
        bindir = pg_bin_dir()
        self.port = self.port or free_port()
        data = self.workdir / "data"
        if os.geteuid() == 0:
            os.chown(self.workdir, NOBODY, NOBODY)
        subprocess.run(self._as_owner([str(bindir / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust",
                                       "--no-sync", "-E", "UTF8", "--locale", "C"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        log = self.workdir / "postgres.log"
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            self._as_owner([str(bindir / "postgres"), "-D", str(data), "-p", str(self.port),
                            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.workdir}",
                            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                            "-c", "max_connections=200", "-c", "logging_collector=off"]),
            stdout=subprocess.DEVNULL, stderr=self._log)
        wait_port(self.port, 20)
        # The port opens before the server accepts logins; wait until it does.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL did not accept connections; see {log}")

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.proc is not None:
            # SIGQUIT is PostgreSQL's immediate shutdown: no final checkpoint, which is all a
            # throw-away server needs (SIGTERM would wait for every client to leave). It goes to
            # the server itself: runuser, its parent, does not pass it on.
            try:
                pid = int((self.workdir / "data" / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGQUIT)
            except (OSError, ValueError, IndexError):
                self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
