"""What a demo simulator hands the demo classroom: a config entry that opens it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from classroomd.config.schema import DeviceConfig


@dataclass
class DemoDevice:
    #: A `[[devices]]` entry pointing at the simulator (a pty path, a file:// source …),
    #: opened by the same device class and driver as real hardware.
    config: DeviceConfig
    close: Callable[[], Awaitable[None]]
