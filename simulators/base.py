"""What a demo simulator hands the demo classroom: a config entry that opens it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from classroomd.config.schema import DeviceConfig


@dataclass
class DemoDevice:
    #: A `[[devices]]` entry pointing at the simulator (a pty path, a file:// source …),
    #: opened by the same device class and driver as real hardware.
    config: DeviceConfig
    close: Callable[[], Awaitable[None]]
    #: A `classroomd` command line that tries this device (without --broker/--state-dir, which the
    #: demo's banner adds with the real values so the line can be pasted as it is).
    try_args: list[str] = field(default_factory=list)
    #: The simulator object itself, so tests can make the simulated hardware act (a touch, an error).
    handle: Any = None
