"""`classroomd central run`: ingest and the HTTP API in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Literal

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import api, retention
from classroomd.central.config import CentralConfig
from classroomd.central.db import open_database
from classroomd.central.ingester import Ingester
from classroomd.core.state_files import token as load_or_create
from classroomd.core.systemd_notify import SystemdNotifier

log = logging.getLogger("classroomd.central")


class HttpPortBusy(OSError):
    pass


class StateDirError(OSError):
    pass


async def serve(cfg: CentralConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when none is given)."""
    try:
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirError(f"state_dir {cfg.state_dir} cannot be made ({exc.strerror}); "
                            "give --state-dir or [central] state_dir a folder this user owns") from None
    engine = await open_database(cfg.db_url)
    ingester = Ingester(cfg, engine) if cfg.role in ("all", "ingest") else None
    runner: web.AppRunner | None = None
    tasks: list[asyncio.Task[None]] = []
    notifier = SystemdNotifier()
    watch: asyncio.Task[None] | None = None
    try:
        if ingester is not None:
            await ingester.start()
        if cfg.role in ("all", "api"):
            runner = await _start_api(cfg, engine, ingester)
        log.info("central (%s): database %s, broker %s", cfg.role, engine.url.render_as_string(),
                 ", ".join(cfg.brokers) if ingester else "-")
        if stop is None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        if ingester is not None:
            tasks.append(asyncio.create_task(ingester.run(), name="central-ingest"))
            if ingester.owns_state:
                tasks.append(asyncio.create_task(_retention(cfg, engine), name="central-retention"))
        stopper = asyncio.create_task(stop.wait())
        watch = await _systemd_ready(notifier, ingester, stopper)
        await asyncio.wait({stopper, *tasks[:1]}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if ingester is not None:
            ingester.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await tasks[0]
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
    finally:
        _systemd_stopping(notifier, watch)
        if runner is not None:
            await runner.cleanup()
        await engine.dispose()


async def _start_api(cfg: CentralConfig, engine: AsyncEngine, ingester: Ingester | None) -> web.AppRunner:
    runner = web.AppRunner(api.build_app(engine, load_or_create(cfg.state_dir), ingester, cfg), access_log=None)
    await runner.setup()
    host, port = cfg.listen
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise HttpPortBusy(f"cannot listen on {cfg.http}: {exc.strerror}") from None
    log.info("central: API on http://%s:%d", host, port)
    return runner


async def _retention(cfg: CentralConfig, engine: AsyncEngine) -> None:
    while True:
        try:
            await retention.apply(engine, raw_days=cfg.retention_raw_days, health_days=cfg.retention_health_days,
                                  events_days=cfg.retention_events_days)
        except Exception:
            log.exception("retention failed; trying again later")
        await asyncio.sleep(cfg.retention_interval_s)


# --- systemd notify (packaging/classroomd-central.service is Type=notify with a watchdog) ----------
async def _systemd_ready(notifier: SystemdNotifier, ingester: Ingester | None,
                         stopper: asyncio.Task[Literal[True]]) -> asyncio.Task[None] | None:
    """READY once the API listens and the broker is connected; then watchdog pings from this loop."""
    if not notifier.enabled:
        return None
    if ingester is not None:
        # The district broker may be down when the server boots: wait a little for it, never for good.
        connected = asyncio.create_task(ingester.client.connected.wait())
        await asyncio.wait({connected, stopper}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        connected.cancel()
    notifier.ready(_status_line(ingester))
    return asyncio.create_task(notifier.run(lambda: _status_line(ingester)), name="systemd-watchdog")


def _systemd_stopping(notifier: SystemdNotifier, watch: asyncio.Task[None] | None) -> None:
    notifier.stopping()
    if watch is not None:
        watch.cancel()


def _status_line(ingester: Ingester | None) -> str:
    """What `systemctl status classroomd-central` shows, e.g. "412 classrooms, broker connected"."""
    if ingester is None:
        return "API only"
    broker = "broker connected" if ingester.client.connected.is_set() else "broker not connected"
    if not ingester.owns_state:
        return f"events lane, {broker}"
    return f"{len(ingester.fleet.classrooms)} classrooms, {broker}"
