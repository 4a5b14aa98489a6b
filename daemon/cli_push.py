"""`classroomd push`: show a capture, a live stream or the blank screen on a panel's lesson board."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from classroomd.daemon.cli import add_client_options, remote_from_args


def add_parser(sub: Any) -> None:
    push = sub.add_parser("push", help="show something on a panel's lesson board",
                          description="Wakes the panel, switches it to the board's input and shows the content; "
                                      "returns once the board confirms.")
    push.add_argument("--panel", required=True, help="the panel's device id")
    what = push.add_mutually_exclusive_group(required=True)
    what.add_argument("--media", help="a media id (from a capture)")
    what.add_argument("--stream", help="a microscope's device id: show its live stream")
    what.add_argument("--capture", metavar="MICROSCOPE", help="capture on this microscope now and show the still")
    what.add_argument("--card", help='a card as JSON, e.g. \'{"type": "text", "title": "…"}\'')
    what.add_argument("--clear", action="store_true", help='the blank "eyes here" screen')
    push.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the reply")
    push.add_argument("--json", action="store_true", help="print the whole reply as JSON")
    add_client_options(push)
    push.set_defaults(func=cmd_push)


def request_for(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    """(target, action, arguments) for the parsed command line."""
    if args.capture:
        return "agent", "capture_and_show", {"microscope": args.capture, "panel": args.panel}
    if args.media:
        return args.panel, "show", {"media": args.media}
    if args.stream:
        return args.panel, "show", {"stream": args.stream}
    if args.card:
        try:
            card = json.loads(args.card)
        except ValueError as exc:
            raise SystemExit(f"classroomd push: --card is not JSON: {exc}") from None
        return args.panel, "show", {"card": card}
    return args.panel, "show", {"clear": True}


def cmd_push(args: argparse.Namespace) -> int:
    target, action, body = request_for(args)

    async def run() -> dict[str, Any]:
        async with remote_from_args(args) as remote:
            reply: dict[str, Any] = await remote.request(target, action, body, timeout=args.timeout)
            return reply

    reply = asyncio.run(run())
    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
        return 0
    steps = reply.get("steps", [])
    for step in steps:
        print(f"{step.get('step')}: {step.get('done')}")
    if "media_id" in reply:
        print(f"media: {reply['media_id']} {reply.get('url') or ''}".rstrip())
    print(f"shown on {args.panel}")
    return 0
