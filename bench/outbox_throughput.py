"""Outbox throughput: events/s written to SQLite and drained to a real Mosquitto at QoS 1.

Run: .venv/bin/python bench/outbox_throughput.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classroomd.bus.client import BrokerUrl, ClientSettings, MqttClient
from classroomd.bus.outbox import Outbox
from classroomd.devices.base import Priority
from tests.support.mosquitto import Mosquitto

PAYLOAD = b'{"seq":1,"session":1,"ts":"2026-11-22T10:00:00.000Z","msg_id":"1:1:x","level":42,"note":"benchmark"}'


async def run(n: int, inflight: int, workdir: Path, broker: Mosquitto) -> tuple[float, float]:
    box = Outbox(workdir / f"outbox-{inflight}.sqlite3", max_messages=n + 10)
    start = time.perf_counter()
    for i in range(n):
        box.put(f"classroom/bench/room/dev-{i % 10}/event/tick", PAYLOAD, priority=Priority.EVENT)
    written = n / (time.perf_counter() - start)

    client = MqttClient(ClientSettings(urls=[BrokerUrl.parse(broker.url)], client_id=f"bench-{inflight}"))
    runner = asyncio.create_task(client.run())
    await asyncio.wait_for(client.connected.wait(), 10)

    async def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
        await client.publish(topic, payload, qos=qos, retain=retain)

    start = time.perf_counter()
    drain = asyncio.create_task(box.drain(publish, time.time(), rate=0, inflight=inflight))
    while box.depth:
        await asyncio.sleep(0.01)
    drained = n / (time.perf_counter() - start)
    drain.cancel()
    await client.stop()
    runner.cancel()
    await asyncio.gather(drain, runner, return_exceptions=True)
    box.close()
    return written, drained


async def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        try:
            print(f"outbox benchmark: {n} events of {len(PAYLOAD)} B, QoS 1 to Mosquitto on loopback")
            for inflight in (1, 16, 64, 256):
                written, drained = await run(n, inflight, Path(tmp), broker)
                print(f"  in flight {inflight:>3}: written {written:>8.0f} events/s   drained {drained:>7.0f} events/s")
        finally:
            broker.stop()


if __name__ == "__main__":
    asyncio.run(main())
