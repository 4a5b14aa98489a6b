"""The agent's idle footprint, alone in its process: RSS, USS and CPU % over a window.

Run: .venv/bin/python bench/agent_footprint.py [seconds]   (default 60)
Two runs: the demo classroom (six devices; the simulated hardware runs in its own
`classroomd simulate` process and the embedded broker is a Mosquitto child when installed, so
neither is counted), and the agent with no devices at all. Targets: RSS < 80 MB and idle CPU
< 1 % of a core with six devices.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from benchnet import free_port


def measure(label: str, demo: bool, window: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(f'site = "bench"\nroom = "r1"\n[agent]\nstate_dir = "{tmp}/state"\n'
                          "health_interval_s = 30\ndiscovery = false\nmdns = false\n")
        cmd = [sys.executable, "-m", "classroomd", "run", "--config", str(config),
               "--broker", f"embedded://127.0.0.1:{free_port()}", "--http", f"127.0.0.1:{free_port()}",
               "--log-level", "WARNING", *(["--demo"] if demo else [])]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            agent = psutil.Process(proc.pid)
            time.sleep(15)  # start-up: imports, devices opening, first publishes
            agent.cpu_percent(None)
            cpu_start = agent.cpu_times()
            start = time.monotonic()
            peak_rss = 0
            while time.monotonic() - start < window:
                time.sleep(1)
                peak_rss = max(peak_rss, agent.memory_info().rss)
            elapsed = time.monotonic() - start
            cpu_end = agent.cpu_times()
            used = (cpu_end.user + cpu_end.system) - (cpu_start.user + cpu_start.system)
            # RSS counts every resident page of shared libraries (OpenCV, numpy, libpython);
            # USS is what this agent alone costs the machine.
            uss = agent.memory_full_info().uss
            children = ", ".join(sorted({" ".join(c.cmdline()[2:4]) or c.name() for c in agent.children()}))
            print(f"{label}, idle over {elapsed:.0f} s:")
            print(f"  CPU   {100 * used / elapsed:.2f} % of one core")
            print(f"  RSS   {agent.memory_info().rss / 2**20:.1f} MB now, {peak_rss / 2**20:.1f} MB peak;"
                  f" USS {uss / 2**20:.1f} MB")
            print(f"  threads {agent.num_threads()}, fds {agent.num_fds()}; not counted: {children or 'none'}")
        finally:
            proc.terminate()
            proc.wait(30)


def main() -> None:
    window = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    measure("agent with the six demo devices", True, window)
    measure("agent with no devices", False, window)


if __name__ == "__main__":
    main()
