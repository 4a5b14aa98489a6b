"""`MqttClient.unsubscribe` against a real Mosquitto: after it, a publish on the filter no longer arrives."""

from __future__ import annotations

import asyncio

from classroomd.bus.client import BrokerUrl, ClientSettings, Message, MqttClient
from tests.support.mosquitto import Mosquitto


async def test_after_unsubscribe_a_publish_is_not_received(mosquitto: Mosquitto) -> None:
    url = [BrokerUrl.parse(mosquitto.url)]
    listener = MqttClient(ClientSettings(url, "t-unsub-listener", reconnect_min_s=0.1, reconnect_max_s=0.5))
    talker = MqttClient(ClientSettings(url, "t-unsub-talker", reconnect_min_s=0.1, reconnect_max_s=0.5))
    got: list[Message] = []
    listener.on_message = got.append
    listener.subscribe("t/a", qos=1)
    listener.subscribe("t/b", qos=1)
    tasks = [asyncio.create_task(c.run()) for c in (listener, talker)]
    try:
        await asyncio.wait_for(asyncio.gather(listener.connected.wait(), talker.connected.wait()), 10)
        await asyncio.sleep(0.2)  # the SUBACKs
        await talker.publish("t/a", b"1", qos=1)
        async with asyncio.timeout(5):
            while not got:
                await asyncio.sleep(0.02)

        listener.unsubscribe("t/a")
        await asyncio.sleep(0.3)  # the UNSUBACK
        await talker.publish("t/a", b"2", qos=1)
        await talker.publish("t/b", b"3", qos=1)  # still subscribed: it arrives, and after "2" would have
        async with asyncio.timeout(5):
            while not any(m.topic == "t/b" for m in got):
                await asyncio.sleep(0.02)
        assert [(m.topic, m.payload) for m in got] == [("t/a", b"1"), ("t/b", b"3")]
        assert listener.subscriptions == [("t/b", 1)]  # a reconnect does not renew it either
        listener.unsubscribe("t/never")  # unknown: nothing sent, nothing changed
        assert listener.subscriptions == [("t/b", 1)]
    finally:
        for client in (listener, talker):
            await client.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
