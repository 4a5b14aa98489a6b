"""The guest's command service: JSON lines on a virtio-serial port, one thread per request.

Requests: `{"id": N, "op": "run", "argv": [...], "timeout": s, "env": {...}, "input": "..."}` →
`{"id": N, "rc": …, "stdout": …, "stderr": …}`; `spawn` (argv, log, env, user) → `{"pid": …}`;
`signal` (pid, sig); `wait` (pid, timeout) → `{"rc": …}`; `ping`. Standard library only: it starts
before anything else in the guest and Python's imports are slow under emulation.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from typing import Any

procs: dict[int, subprocess.Popen[bytes]] = {}
write_lock = threading.Lock()


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    return env


def _demote(user: int | None) -> Any:
    if user is None:
        return None

    def drop() -> None:
        # The user's own groups, as a login or a systemd unit would give them.
        entry = pwd.getpwuid(user)
        os.initgroups(entry.pw_name, entry.pw_gid)
        os.setgid(entry.pw_gid)
        os.setuid(user)
    return drop


def handle(req: dict[str, Any]) -> dict[str, Any]:
    op = req.get("op")
    if op == "ping":
        return {"ok": True, "uptime": float(open("/proc/uptime").read().split()[0])}
    if op == "run":
        try:
            done = subprocess.run(req["argv"], input=req.get("input", "").encode(), capture_output=True,
                                  timeout=req.get("timeout_s", 120), env=_env(req.get("env")),
                                  preexec_fn=_demote(req.get("user")), cwd=req.get("cwd"))
        except subprocess.TimeoutExpired as exc:
            return {"rc": None, "stdout": (exc.stdout or b"").decode(errors="replace"),
                    "stderr": f"timed out after {exc.timeout}s"}
        except OSError as exc:
            return {"rc": 127, "stdout": "", "stderr": str(exc)}
        return {"rc": done.returncode, "stdout": done.stdout.decode(errors="replace"),
                "stderr": done.stderr.decode(errors="replace")}
    if op == "spawn":
        log_fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if req.get("log") \
            else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(req["argv"], stdout=log_fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=_env(req.get("env")), preexec_fn=_demote(req.get("user")),
                                    cwd=req.get("cwd"), start_new_session=True)
        finally:
            if log_fd != subprocess.DEVNULL:
                os.close(log_fd)
        procs[proc.pid] = proc
        return {"pid": proc.pid}
    if op == "signal":
        target = procs.get(req["pid"])
        if target is None or target.poll() is not None:
            return {"rc": None if target is None else target.returncode}
        os.killpg(target.pid, req.get("sig", signal.SIGTERM))
        return {"rc": None}
    if op == "wait":
        waited = procs[req["pid"]]
        try:
            return {"rc": waited.wait(req.get("timeout_s", 30))}
        except subprocess.TimeoutExpired:
            return {"rc": None}
    return {"error": f"unknown op {op!r}"}


def serve(port: str) -> None:
    fd = os.open(port, os.O_RDWR)

    def reply(req_id: Any, body: dict[str, Any]) -> None:
        data = (json.dumps({"id": req_id, **body}) + "\n").encode()
        with write_lock:
            while data:
                data = data[os.write(fd, data):]

    def work(req: dict[str, Any]) -> None:
        try:
            body = handle(req)
        except Exception as exc:  # the service must outlive any one request
            body = {"error": f"{type(exc).__name__}: {exc}"}
        reply(req.get("id"), body)

    print("vm-agent: serving on", port, flush=True)
    buf = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:  # the host end is not connected (yet, or any more)
            time.sleep(0.1)
            continue
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                threading.Thread(target=work, args=(json.loads(line),), daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1])
