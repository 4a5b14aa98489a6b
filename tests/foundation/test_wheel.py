"""The wheel, not the editable checkout: it builds without warnings and runs the demo with its own data files.

A data file missing from the package configuration works in the checkout and fails on a classroom PC;
only a test that runs from the built wheel catches it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.support.mosquitto import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
CLASSROOMD = [sys.executable, "-m", "classroomd"]
WHERE = "import classroomd; print(classroomd.__file__)"


def _build_wheel(out: Path) -> Path:
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                           "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    noise = [line for line in (done.stdout + done.stderr).splitlines() if "warning" in line.lower()]
    assert not noise, "\n".join(noise)
    (wheel,) = out.glob("classroomd-*.whl")
    return wheel


async def test_the_wheel_installs_clean_and_serves_the_demo_from_its_own_files(tmp_path: Path) -> None:
    wheel = await asyncio.to_thread(_build_wheel, tmp_path / "dist")
    site = tmp_path / "site"
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                                             "--disable-pip-version-check", "--target", str(site), str(wheel)],
                            check=True, timeout=120)
    # The wheel's copy comes first on the path; the venv still provides the dependencies.
    env = {**os.environ, "PYTHONPATH": str(site)}
    here = {"env": env, "cwd": tmp_path}
    where = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", WHERE],
                                    capture_output=True, text=True, check=True, **here)
    assert where.stdout.startswith(str(site)), where.stdout

    example = site / "classroomd" / "config" / "classroom.example.toml"
    checked = await asyncio.to_thread(subprocess.run, [*CLASSROOMD, "config", "check", str(example)],
                                      capture_output=True, text=True, **here)
    assert checked.returncode == 0, checked.stderr

    broker, http_port = free_port(), free_port()
    config = tmp_path / "demo.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "state"}"\n')
    log = (tmp_path / "demo.log").open("wb")
    proc = await asyncio.to_thread(subprocess.Popen, [*CLASSROOMD, "run", "--demo", "--config", str(config),
                                   "--broker", f"embedded://127.0.0.1:{broker}", "--http", f"127.0.0.1:{http_port}"],
                                   stdout=log, stderr=subprocess.STDOUT, **here)
    try:
        await asyncio.to_thread(wait_port, http_port, 30)
        base = f"http://127.0.0.1:{http_port}"
        async with aiohttp.ClientSession() as http:
            kinds: set[str] = set()
            for _ in range(100):
                async with http.get(f"{base}/api/v1/devices") as response:
                    kinds = {d["kind"] for d in json.loads(await response.text())}
                if len(kinds) == 6:
                    break
                await asyncio.sleep(0.2)
            assert kinds == {"panel", "microscope", "tablet", "touch_table", "globe", "printer"}
            for name in ("board.js", "board.css"):
                async with http.get(f"{base}/board/static/{name}") as response:
                    assert response.status == 200, name
            async with http.get(f"{base}/board?panel=panel-1") as response:
                assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert "Traceback" not in output, output
