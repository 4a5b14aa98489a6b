"""`classroomd simulate`: the demo's simulated hardware in a process of its own.

The agent then runs alone, as it would on a classroom PC, and its footprint can be measured honestly
(the printer's physics and the panel's and globe's serial lines no longer share its loop). The
simulators announce the `[[devices]]` entries that reach them in `WORKDIR/devices.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

from classroomd.daemon.demo import start_simulators, stop_simulators

ANNOUNCEMENT = "devices.json"


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("simulate", help="run the demo classroom's simulated devices in this process")
    parser.add_argument("--workdir", required=True, help="where the simulators keep their files and announce "
                                                          f"their devices ({ANNOUNCEMENT})")
    parser.add_argument("--skip", action="append", default=[], metavar="KIND",
                        help="do not simulate this kind (a real one is configured)")
    parser.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    return asyncio.run(_simulate(Path(args.workdir), set(args.skip)))


async def _simulate(workdir: Path, skip: set[str]) -> int:
    sims = await start_simulators(workdir, skip)
    announcement = [{"config": s.config.model_dump(mode="json", exclude_none=True), "try_args": s.try_args}
                    for s in sims]
    tmp = workdir / f".{ANNOUNCEMENT}.tmp"
    tmp.write_text(json.dumps(announcement))
    os.replace(tmp, workdir / ANNOUNCEMENT)  # the agent never reads half a file
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await stop_simulators(sims)
    return 0
