"""A real OctoPrint from PyPI, in its own virtualenv under build/, with its virtual printer.

The virtualenv is made on first use (`pip install OctoPrint==VERSION`, a minute or two) and
kept under build/ between runs. A server gets a fresh base folder: a user, an application
key written where OctoPrint's appkeys plugin keeps them, the virtual printer on, and the
plugins that would reach the internet off. If OctoPrint cannot be installed or started the
test fails with the reason: it is not skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mosquitto import free_port

VERSION = "1.11.8"
VENV = Path(__file__).resolve().parents[2] / "build" / "octoprint-venv"
CONFIG = """\
server:
  firstRun: false
  onlineCheck: {enabled: false}
  pluginBlacklist: {enabled: false}
plugins:
  _disabled: [softwareupdate, announcements, tracking, discovery, errortracking, achievements, pluginmanager, backup]
  virtual_printer:
    enabled: true
serial:
  autoconnect: true
  port: VIRTUAL
  baudrate: 115200
"""


@dataclass
class OctoPrintServer:
    url: str
    api_key: str
    basedir: Path
    process: subprocess.Popen[bytes]


def octoprint_binary() -> Path:
    """OctoPrint's command in build/octoprint-venv, installed there first if needed (once, under a lock)."""
    exe = VENV / "bin" / "octoprint"
    marker = VENV / f".installed-{VERSION}"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with (VENV.parent / "octoprint-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and exe.exists():
            return exe
        steps = [[sys.executable, "-m", "venv", "--clear", str(VENV)],
                 [str(VENV / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", f"OctoPrint=={VERSION}"]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
            if done.returncode != 0:
                pytest.fail(f"cannot install OctoPrint {VERSION} for the test ({' '.join(step[:3])}…): "
                            f"{(done.stdout + done.stderr)[-2000:]}")
        marker.touch()
    return exe


def _answers(url: str, api_key: str) -> bool:
    request = urllib.request.Request(f"{url}/api/printer", headers={"X-Api-Key": api_key})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return False  # not listening yet, or still starting its routes


@contextlib.contextmanager
def octoprint(basedir: Path) -> Iterator[OctoPrintServer]:
    """An OctoPrint on a free port, connected to its virtual printer, until the block ends."""
    exe = octoprint_binary()
    basedir.mkdir(parents=True, exist_ok=True)
    (basedir / "config.yaml").write_text(CONFIG)
    subprocess.run([str(exe), "--basedir", str(basedir), "user", "add", "teacher", "--password",
                    secrets.token_hex(8), "--admin"], capture_output=True, check=True, timeout=120)
    api_key = secrets.token_hex(16).upper()
    keys = basedir / "data" / "appkeys"
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "keys.yaml").write_text(f"teacher:\n- app_id: classroomd\n  api_key: {api_key}\n")
    port = free_port()
    log = (basedir / "serve.log").open("wb")
    # OctoPrint refuses root unless told; CI runs as root.
    process = subprocess.Popen([str(exe), "--basedir", str(basedir), "serve", "--host", "127.0.0.1", "--port",
                                str(port), "--iknowwhatimdoing"], stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not _answers(url, api_key):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (basedir / "serve.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"OctoPrint did not come up with its virtual printer: {tail}")
            time.sleep(0.3)
        yield OctoPrintServer(url, api_key, basedir, process)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
