"""Active alerts, with hysteresis: raised on a transition, cleared only after the
condition has stayed false for a while, so a flapping link does not flood anyone."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from classroomd.central import schema as t
from classroomd.central.batch import AlertChange, Batch

log = logging.getLogger("classroomd.central.alerts")


@dataclass
class Alert:
    key: str
    source: str
    site: str
    room: str
    device: str
    code: str
    severity: str
    message: dict[str, Any]
    raised: float
    false_since: float | None = None


def alert_key(source: str, site: str, room: str, device: str, code: str) -> str:
    return f"{source}:{site}/{room}/{device}/{code}"


class AlertBook:
    def __init__(self) -> None:
        self.active: dict[str, Alert] = {}

    async def load(self, engine: AsyncEngine) -> None:
        a = t.alerts
        async with engine.connect() as conn:
            rows = (await conn.execute(select(a).where(a.c.cleared.is_(None)))).mappings()
            for r in rows:
                self.active[r["key"]] = Alert(r["key"], r["source"], r["site"], r["room"], r["device"], r["code"],
                                              r["severity"], json.loads(r["message"]), r["raised"])

    def raise_alert(self, alert: Alert, batch: Batch, notify: bool = True) -> bool:
        current = self.active.get(alert.key)
        if current is not None:
            current.false_since = None
            return False
        self.active[alert.key] = alert
        row = {"source": alert.source, "site": alert.site, "room": alert.room, "device": alert.device,
               "code": alert.code, "severity": alert.severity,
               "message": json.dumps(alert.message, ensure_ascii=False)}
        batch.alerts.append(AlertChange("raised", alert.key, alert.raised, row))
        log.log(logging.WARNING if notify else logging.INFO, "alert raised%s: %s/%s %s %s (%s)",
                "" if notify else " (late, from the agent's outbox)", alert.site, alert.room, alert.device or "-",
                alert.code, alert.severity)
        return True

    def clear(self, key: str, now: float, batch: Batch, detail: str | None = None) -> bool:
        alert = self.active.pop(key, None)
        if alert is None:
            return False
        batch.alerts.append(AlertChange("cleared", key, now, {"detail": detail}))
        log.info("alert cleared: %s/%s %s %s", alert.site, alert.room, alert.device or "-", alert.code)
        return True

    def condition(self, alert: Alert, holds: bool | None, now: float, clear_after_s: float, batch: Batch) -> None:
        """Feed a rule's verdict: True raises, False clears after `clear_after_s`, None (unknown) holds."""
        if holds is None:
            return
        if holds:
            self.raise_alert(alert, batch)
            return
        current = self.active.get(alert.key)
        if current is None:
            return
        if current.false_since is None:
            current.false_since = now
        if now - current.false_since >= clear_after_s:
            self.clear(alert.key, now, batch, "condition ended")
