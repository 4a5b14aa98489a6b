"""Provisioned credentials on a real Mosquitto with the generated ACL: a classroom cannot
write into another classroom's topics nor read its requests; central reads everything."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from classroomd.bus.client import BrokerUrl, ClientSettings, Message, MqttClient
from classroomd.central.provision import BrokerAuth, Credentials, ProvisionError
from classroomd.daemon.cli import main
from tests.central.harness import wait_for
from tests.support.mosquitto import Mosquitto


@contextlib.asynccontextmanager
async def connected(url: str, creds: Credentials, subscribe: str | None = None) -> AsyncIterator[
        tuple[MqttClient, list[Message]]]:
    client = MqttClient(ClientSettings([BrokerUrl.parse(url)], client_id=f"t-{creds.username}",
                                       username=creds.username, password=creds.password,
                                       reconnect_min_s=0.2, reconnect_max_s=1))
    got: list[Message] = []
    client.on_message = got.append
    if subscribe:
        client.subscribe(subscribe)
    task = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.connected.wait(), 10)
        await asyncio.sleep(0.2)  # SUBACK
        yield client, got
    finally:
        await client.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_classroom_cannot_publish_into_another_classrooms_topics(tmp_path: Path) -> None:
    auth = BrokerAuth(tmp_path / "auth")
    bio = auth.provision("kz-1", "bio")
    chem = auth.provision("kz-2", "chem")
    central = auth.central()
    conf = auth.mosquitto_conf().replace("allow_anonymous false\n", "")
    broker = Mosquitto(tmp_path / "mosquitto", listener_options=conf, allow_anonymous=False)
    broker.start()
    try:
        async with connected(broker.url, central, "classroom/#") as (_c, seen), \
                connected(broker.url, bio, "classroom/kz-1/bio/+/request/+") as (bio_client, bio_seen), \
                connected(broker.url, chem, "classroom/kz-1/bio/+/request/+") as (chem_client, chem_seen):
            await bio_client.publish("classroom/kz-1/bio/agent/health", b"own")
            await chem_client.publish("classroom/kz-1/bio/agent", b"forged")
            await bio_client.publish("classroom/kz-2/chem/agent", b"forged")
            await bio_client.publish("elsewhere/topic", b"forged")
            await chem_client.publish("classroom/kz-2/chem/agent", b"own")
            await wait_for(lambda: _has(seen, "classroom/kz-2/chem/agent"), 5, "chem's own message")
            await _c.publish("classroom/kz-1/bio/agent/request/ping", b"{}")
            await wait_for(lambda: _has(bio_seen, "classroom/kz-1/bio/agent/request/ping"), 5, "bio's request")
            await asyncio.sleep(0.3)
            assert sorted((m.topic, m.payload) for m in seen if m.payload != b"{}") == [
                ("classroom/kz-1/bio/agent/health", b"own"), ("classroom/kz-2/chem/agent", b"own")]
            assert chem_seen == []  # chem may not read bio's requests

        bad = Credentials(bio.username, "wrong")
        client = MqttClient(ClientSettings([BrokerUrl.parse(broker.url)], "t-bad", bad.username, bad.password,
                                           reconnect_min_s=5))
        task = asyncio.create_task(client.run())
        await asyncio.sleep(1.0)
        assert not client.connected.is_set()
        await client.stop()
        task.cancel()  # it waits out its back-off otherwise
        await asyncio.gather(task, return_exceptions=True)
    finally:
        broker.stop()


async def _has(messages: list[Message], topic: str) -> bool:
    return any(m.topic == topic for m in messages)


def test_provisioning_rejects_names_the_broker_files_cannot_hold(tmp_path: Path) -> None:
    auth = BrokerAuth(tmp_path)
    for site, room in (("kz 1", "bio"), ("kz-1", "a:b"), ("kz-1", "a/b"), ("", "x")):
        with pytest.raises(ProvisionError):
            auth.provision(site, room)


def test_provision_command_prints_a_config_stanza_and_rotates_the_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def run() -> str:
        assert main(["central", "provision", "--site", "kz-9", "--room", "Химия", "--dir", str(tmp_path)]) == 0
        return capsys.readouterr().out

    first, second = run(), run()
    assert 'room = "Химия"' in first and 'username = "kz-9/Химия"' in first
    password = [line for line in first.splitlines() if line.startswith("password")]
    assert password and password[0] not in second
    acl = (tmp_path / "acl").read_text()
    assert acl.count("user kz-9/Химия") == 1 and "topic write classroom/kz-9/Химия/#" in acl
