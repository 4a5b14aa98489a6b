"""The agent's idle footprint with the demo classroom: RSS and CPU % over a window.

Run: .venv/bin/python bench/agent_footprint.py [seconds]   (default 60)
The daemon runs as `classroomd run --demo` on an embedded broker; the
simulators run in the same process, so the numbers include them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    window = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(f'[agent]\nstate_dir = "{tmp}/state"\nhealth_interval_s = 30\n')
        cmd = [sys.executable, "-m", "classroomd", "run", "--demo", "--config", str(config),
               "--broker", f"embedded://127.0.0.1:{free_port()}", "--http", f"127.0.0.1:{free_port()}",
               "--log-level", "WARNING"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            daemon = psutil.Process(proc.pid)
            time.sleep(15)  # start-up: imports, simulators, first publishes
            daemon.cpu_percent(None)
            cpu_start = daemon.cpu_times()
            start = time.monotonic()
            peak_rss = 0
            while time.monotonic() - start < window:
                time.sleep(1)
                peak_rss = max(peak_rss, daemon.memory_info().rss)
            elapsed = time.monotonic() - start
            cpu_end = daemon.cpu_times()
            used = (cpu_end.user + cpu_end.system) - (cpu_start.user + cpu_start.system)
            rss = daemon.memory_info().rss
            # RSS counts every resident page of shared libraries (OpenCV, numpy, libpython);
            # USS is what this daemon alone costs the machine.
            uss = daemon.memory_full_info().uss
            print(f"agent idle footprint with the demo classroom over {elapsed:.0f} s:")
            print(f"  CPU   {100 * used / elapsed:.2f} % of one core")
            print(f"  RSS   {rss / 2**20:.1f} MB now, {peak_rss / 2**20:.1f} MB peak; USS {uss / 2**20:.1f} MB")
            print(f"  threads {daemon.num_threads()}, fds {daemon.num_fds()}")
        finally:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
