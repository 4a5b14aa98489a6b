"""Starts devices, and keeps trying those that fail to open, without ever taking the daemon down."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from classroomd.devices.base import Device, DeviceHost, Status

log = logging.getLogger("classroomd.supervisor")


class Supervisor:
    def __init__(self, host: DeviceHost, retry_min_s: float = 2.0, retry_max_s: float = 60.0) -> None:
        self.host = host
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, device: Device) -> None:
        self._tasks[device.id] = asyncio.create_task(self._keep_started(device), name=f"start-{device.id}")

    async def _keep_started(self, device: Device) -> None:
        delay = self.retry_min_s
        while True:
            try:
                await device.start(self.host)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                log.warning("could not start: %s; retrying in %.0fs", reason, delay,
                            extra={"device": device.id})
                device.set_status(Status.FAULT, reason)
                with contextlib.suppress(Exception):
                    await device.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)

    async def stop(self, device: Device) -> None:
        task = self._tasks.pop(device.id, None)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            await asyncio.wait_for(device.stop(), 10)
        except Exception as exc:
            log.warning("stop failed: %s", exc, extra={"device": device.id})

    async def stop_all(self, devices: list[Device]) -> None:
        await asyncio.gather(*(self.stop(d) for d in devices))
