"""The outbox on its own: order, priorities, bounds, persistence and the replayed mark."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from classroomd.bus.client import NotConnected
from classroomd.bus.outbox import Outbox
from classroomd.devices.base import Priority


class Sink:
    """Records what the outbox publishes; fails after `fail_after` messages like a dropped link."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[tuple[str, bytes, bool]] = []
        self.fail_after = fail_after

    async def __call__(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        await asyncio.sleep(0)
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise NotConnected("link down")
        self.sent.append((topic, payload, retain))


async def drain_until(outbox: Outbox, sink: Sink, count: int, since: float = 0.0, **kw: float) -> None:
    task = asyncio.create_task(outbox.drain(sink, since, **kw))
    try:
        async with asyncio.timeout(10):
            while len(sink.sent) < count and not task.done():
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def payload(n: int) -> bytes:
    return json.dumps({"n": n}).encode()


async def test_order_within_priority_and_priorities_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for n in range(5):
        box.put("t/events", payload(n), priority=Priority.EVENT)
    box.put("t/telemetry", payload(100), priority=Priority.TELEMETRY)
    box.put("t/alert", payload(200), priority=Priority.ALERT, retain=True)
    sink = Sink()
    await drain_until(box, sink, 7, since=time.time() + 10, inflight=1)
    assert [t for t, _, _ in sink.sent] == ["t/alert"] + ["t/events"] * 5 + ["t/telemetry"]
    assert [json.loads(p)["n"] for t, p, _ in sink.sent if t == "t/events"] == [0, 1, 2, 3, 4]
    assert sink.sent[0][2] is True
    assert box.depth == 0


async def test_messages_survive_reopen_and_are_marked_replayed(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for n in range(3):
        box.put("t/e", payload(n), priority=Priority.EVENT)
    box.close()
    reopened = Outbox(tmp_path / "o.db")
    assert reopened.depth == 3
    sink = Sink()
    await drain_until(reopened, sink, 3, since=time.time())
    bodies = [json.loads(p) for _, p, _ in sink.sent]
    assert bodies == [{"n": 0, "replayed": True}, {"n": 1, "replayed": True}, {"n": 2, "replayed": True}]


async def test_fresh_messages_are_not_marked_replayed(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    since = time.time() - 1
    box.put("t/e", payload(1), priority=Priority.EVENT)
    sink = Sink()
    await drain_until(box, sink, 1, since=since)
    assert json.loads(sink.sent[0][1]) == {"n": 1}


async def test_unacknowledged_messages_stay_after_link_failure(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for n in range(10):
        box.put("t/e", payload(n), priority=Priority.EVENT)
    failing = Sink(fail_after=4)
    with pytest.raises(NotConnected):
        await box.drain(failing, 0.0, inflight=1)
    assert box.depth == 6
    sink = Sink()
    await drain_until(box, sink, 6)
    assert [json.loads(p)["n"] for _, p, _ in sink.sent] == [4, 5, 6, 7, 8, 9]


async def test_full_box_drops_least_important_oldest_first(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_messages=100)
    for n in range(50):
        box.put("t/telemetry", payload(n), priority=Priority.TELEMETRY)
    for n in range(50):
        box.put("t/alert", payload(n), priority=Priority.ALERT)
    assert box.put("t/event", payload(0), priority=Priority.EVENT)
    assert box.dropped == 1 and box.depth == 100
    # a telemetry message cannot push out alerts once only alerts and events are left
    for n in range(49):
        box.put("t/event", payload(n + 1), priority=Priority.EVENT)
    assert not box.put("t/telemetry", payload(999), priority=Priority.TELEMETRY)
    sink = Sink()
    await drain_until(box, sink, 100)
    topics = [t for t, _, _ in sink.sent]
    assert topics.count("t/alert") == 50 and topics.count("t/event") == 50 and "t/telemetry" not in topics


async def test_empty_payload_clears_are_sent_as_is(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.put("t/alert/x", b"", priority=Priority.ALERT, retain=True, envelope=False)
    sink = Sink()
    await drain_until(box, sink, 1, since=time.time() + 5)
    assert sink.sent == [("t/alert/x", b"", True)]


async def test_drain_rate_limits(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for n in range(30):
        box.put("t/e", payload(n), priority=Priority.EVENT)
    sink = Sink()
    task = asyncio.create_task(box.drain(sink, 0.0, rate=20.0))
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # burst of 10 plus ~20/s: far fewer than all 30 in half a second
    assert 1 <= len(sink.sent) <= 25
