"""Starts devices and brings back those that fail to open or get lost, without ever taking the daemon down.

This is the only place that reopens a device: a device that loses its hardware calls `lost()`, and
the Supervisor stops it and starts it again with the back-off of `[agent] reopen_min_s/_max_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from classroomd.core.retry import RetryPolicy
from classroomd.devices.base import Device, DeviceHost, Status

log = logging.getLogger("classroomd.supervisor")


class Supervisor:
    def __init__(self, host: DeviceHost, policy: RetryPolicy | None = None) -> None:
        self.host = host
        self.policy = policy or RetryPolicy()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, device: Device) -> None:
        self._tasks[device.id] = asyncio.create_task(self._keep_started(device, first=True),
                                                     name=f"start-{device.id}")

    def recover(self, device: Device) -> None:
        """The device lost its hardware: reopen it, unless it is already being (re)started."""
        task = self._tasks.get(device.id)
        if task is not None and not task.done():
            return
        self._tasks[device.id] = asyncio.create_task(self._keep_started(device, first=False),
                                                     name=f"reopen-{device.id}")

    async def _keep_started(self, device: Device, first: bool) -> None:
        delays = self.policy.delays()
        if not first:
            with contextlib.suppress(Exception):
                await device.stop()
            await asyncio.sleep(next(delays))
        while True:
            try:
                await device.start(self.host)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                delay = next(delays)
                log.warning("could not %s: %s; retrying in %.0fs", "start" if first else "reopen", reason, delay,
                            extra={"device": device.id})
                # A device that was there and went away is lost, not broken: it may be plugged back in.
                device.set_status(Status.FAULT if first else Status.LOST, reason)
                with contextlib.suppress(Exception):
                    await device.stop()
                await asyncio.sleep(delay)

    async def stop(self, device: Device) -> None:
        task = self._tasks.pop(device.id, None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            await asyncio.wait_for(device.stop(), 10)
        except Exception as exc:
            log.warning("stop failed: %s", exc, extra={"device": device.id})

    async def cancel_all(self) -> None:
        """Stop starting and reopening; the devices themselves are left as they are."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop_all(self, devices: list[Device]) -> None:
        await asyncio.gather(*(self.stop(d) for d in devices))
