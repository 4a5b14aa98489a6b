"""`classroomd print FILE --printer ID [--wait]`: upload over HTTP, start over MQTT, follow to the end."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from classroomd.bus.client import Message
from classroomd.daemon.cli import add_client_options, remote_from_args
from classroomd.daemon.config_file import load as load_config

END_EVENTS = {"job_finished": 0, "job_failed": 1, "job_cancelled": 1}


def add_parser(sub: Any) -> None:
    cmd = sub.add_parser("print", help="upload a G-code file and print it",
                         description="Uploads FILE to the daemon, asks the printer to print it (you confirm the "
                                     "bed is clear) and, with --wait, shows the progress until the job ends.")
    cmd.add_argument("file", help="a G-code file")
    cmd.add_argument("--printer", required=True, help="the printer's device id")
    cmd.add_argument("--wait", action="store_true", help="follow the job until it ends; exit 1 if it fails")
    cmd.add_argument("--lesson", help="the lesson the print belongs to (default: the current lesson)")
    cmd.add_argument("--bed-clear", "--yes", dest="bed_clear", action="store_true",
                     help="confirm the bed is clear without being asked")
    cmd.add_argument("--token", help="the daemon's HTTP token (default: read from its state_dir/token)")
    cmd.add_argument("--state-dir", help="the daemon's state_dir, to read the token from")
    cmd.add_argument("--http", help="the daemon's HTTP base URL (default: the one it announces)")
    add_client_options(cmd)
    cmd.set_defaults(func=cmd_print)


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    from classroomd.daemon.demo import default_state_dir

    candidates = [Path(args.state_dir)] if args.state_dir else []
    if args.config:
        candidates.append(Path(load_config(args.config).agent.state_dir))
    candidates += [Path("/var/lib/classroomd"), default_state_dir()]
    for folder in candidates:
        try:
            return (folder / "token").read_text().strip()
        except OSError:
            continue
    raise SystemExit("classroomd print: cannot read the daemon's token; pass --token, --state-dir or --config")


def _confirm(args: argparse.Namespace) -> None:
    if args.bed_clear:
        return
    if not sys.stdin.isatty():
        raise SystemExit("classroomd print: confirm the bed is clear with --bed-clear")
    answer = input(f"Is the bed of {args.printer} clear? [y/N] ").strip().lower()
    if answer not in ("y", "yes", "и", "иә", "да", "д"):
        raise SystemExit("classroomd print: not started")


async def upload(base: str, token: str, path: Path) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        with path.open("rb") as handle:
            form = aiohttp.FormData()
            form.add_field("file", handle, filename=path.name, content_type="text/x-gcode")
            async with session.post(f"{base}/api/v1/uploads", data=form,
                                    headers={"Authorization": f"Bearer {token}"}) as response:
                body = await response.json(content_type=None)
                if response.status != 201:
                    error = body.get("error", {}) if isinstance(body, dict) else {}
                    raise SystemExit(f"classroomd print: upload refused ({response.status}): "
                                     f"{error.get('message', body)}")
                file: dict[str, Any] = body["file"]
                return file


def _bar(progress: float, eta_s: float | None) -> str:
    filled = int(progress / 100 * 30)
    eta = f"  {int(eta_s) // 60}:{int(eta_s) % 60:02d} left" if eta_s is not None else ""
    return f"\r[{'#' * filled}{'.' * (30 - filled)}] {progress:5.1f}%{eta}   "


async def _print(args: argparse.Namespace, path: Path, token: str) -> int:
    async with remote_from_args(args) as remote:
        topics = await remote.topics()
        agent = await remote.retained(topics.agent) or {}
        base = (args.http or agent.get("http") or "").rstrip("/")
        if not base:
            raise SystemExit("classroomd print: the daemon announces no HTTP address; pass --http")
        file = await upload(base, token, path)
        print(f"uploaded {file['name']} ({file['size']} bytes, sha256 {file['sha256'][:12]}…)")
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        if args.wait:
            forward = remote.client.on_message

            def hook(message: Message) -> None:
                if forward is not None:
                    forward(message)
                inbox.put_nowait(message)

            remote.client.on_message = hook
            remote.client.subscribe(topics.event(args.printer, "+"))
            await asyncio.sleep(0.1)
        body: dict[str, Any] = {"file_id": file["id"], "confirm_bed_clear": True}
        if args.lesson:
            body["lesson_id"] = args.lesson
        reply = await remote.request(args.printer, "print", body)
        job = reply["job"]
        if reply.get("started"):
            print(f"job {job['id']} started on {args.printer}")
        else:
            print(f"job {job['id']} queued on {args.printer} at position {reply.get('position')}; it starts when "
                  "someone confirms the bed is clear (start_next)")
        if not args.wait:
            return 0
        return await _follow(inbox, job["id"])


async def _follow(inbox: asyncio.Queue[Message], job_id: str) -> int:
    while True:
        message = await inbox.get()
        name = message.topic.rsplit("/", 1)[-1]
        try:
            data = json.loads(message.payload)
        except ValueError:
            continue
        if name == "progress" and data.get("job_id") == job_id:
            print(_bar(float(data.get("progress") or 0), data.get("eta_s")), end="", flush=True)
        elif name in END_EVENTS and (data.get("job") or {}).get("id") == job_id:
            job = data["job"]
            if name == "job_finished":
                print(_bar(100.0, None))
            print(f"\njob {job_id}: {job['state']}" + (f" ({job['reason']})" if job.get("reason") else ""))
            print(f"lines sent {job.get('lines_sent')}, resent {job.get('lines_resent')}")
            return END_EVENTS[name]


def cmd_print(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise SystemExit(f"classroomd print: {path}: no such file")
    token = _token(args)
    _confirm(args)
    return asyncio.run(_print(args, path, token))
