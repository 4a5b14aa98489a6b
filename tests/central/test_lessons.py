"""Lessons per week: every lesson a classroom holds is kept once, on both engines."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from classroomd.central import room_stats
from classroomd.central.db import open_database
from classroomd.central.simulate import SimClassroom
from tests.central.harness import Central, wait_for


async def test_each_lesson_counts_once_in_its_week(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-1", "bio")
    await sim.start(health_loop=False)
    engine = await open_database(central.db)
    try:
        last_week = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        await sim.start_lesson("old-1", started=last_week)
        await sim.start_lesson("l-1")
        await sim.end_lesson()
        await sim.start_lesson("l-2", subject="Химия")
        # The retained topic comes again after a reconnect: the same lesson, not a new one.
        await sim.kill()
        await sim.restart(new_session=False, health_loop=False)
        await sim.start_lesson("l-2", subject="Химия")

        async def counted() -> list[int] | None:
            _, per_room = await room_stats.lessons_per_week(engine, "kz-1", None, time.time(), 2)
            return per_room.get("bio") if per_room.get("bio") == [1, 2] else None

        await wait_for(counted, 10, "two lessons this week and one the week before")
        mondays, per_room = await room_stats.lessons_per_week(engine, "kz-1", "bio", time.time(), 4)
        assert per_room["bio"] == [0, 0, 1, 2] and mondays[-1].weekday() == 0
    finally:
        await engine.dispose()
        await sim.stop()
