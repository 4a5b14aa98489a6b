"""Broker fail-over, TLS with a client certificate, and username/password, against real Mosquittos."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.mosquitto import Mosquitto, free_port


def make_pki(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    for name, cn in (("server", "127.0.0.1"), ("client", "kz-test-01-biology")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr")
        ext = folder / f"{name}.ext"
        ext.write_text("subjectAltName=IP:127.0.0.1\n" if name == "server" else "extendedKeyUsage=clientAuth\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", str(ext), "-out", f"{name}.pem")
    return {n: folder / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


async def test_fail_over_to_the_second_broker(tmp_path: Path, mosquitto: Mosquitto, make_agent: Any) -> None:
    dead = f"mqtt://127.0.0.1:{free_port()}"
    agent = await make_agent([dead, mosquitto.url])
    assert str(agent.client.broker) == mosquitto.url


async def test_tls_with_client_certificate(tmp_path: Path, make_agent: Any) -> None:
    pki = make_pki(tmp_path / "pki")
    broker = Mosquitto(tmp_path / "tls-broker", listener_options=(
        f"cafile {pki['ca.pem']}\ncertfile {pki['server.pem']}\nkeyfile {pki['server.key']}\n"
        "require_certificate true\n"))
    broker.start()
    try:
        agent = await make_agent(
            f"mqtts://127.0.0.1:{broker.port}",
            mqtt={"ca_file": str(pki["ca.pem"]), "cert_file": str(pki["client.pem"]),
                  "key_file": str(pki["client.key"])})
        assert agent.client.broker is not None and agent.client.broker.tls
        await agent.client.publish("tls/check", b"ok", qos=1)
    finally:
        broker.stop()


async def test_cli_uses_every_mqtt_setting_fail_over_and_client_certificate(
        tmp_path: Path, make_agent: Any) -> None:
    """`classroomd devices --config` reaches a broker that requires a client certificate, past a dead URL."""
    pki = make_pki(tmp_path / "pki")
    broker = Mosquitto(tmp_path / "tls-broker", listener_options=(
        f"cafile {pki['ca.pem']}\ncertfile {pki['server.pem']}\nkeyfile {pki['server.key']}\n"
        "require_certificate true\n"))
    broker.start()
    try:
        tls = {"ca_file": str(pki["ca.pem"]), "cert_file": str(pki["client.pem"]), "key_file": str(pki["client.key"])}
        urls = [f"mqtts://127.0.0.1:{free_port()}", f"mqtts://127.0.0.1:{broker.port}"]
        await make_agent(urls, mqtt=tls)
        config = tmp_path / "classroomd.toml"
        keys = "".join(f'{k} = "{v}"\n' for k, v in tls.items())
        config.write_text(f'site = "kz-test-01"\nroom = "biology"\n[mqtt]\nurl = {json.dumps(urls)}\n{keys}')
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "classroomd", "devices", "--config", str(config), "--json"],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["agent"]["state"] == "online"
        assert "Normal disconnection" not in done.stderr, "a clean hang-up is not news"
    finally:
        broker.stop()


async def test_tls_refuses_an_unknown_server(tmp_path: Path, make_agent: Any) -> None:
    from classroomd.config.schema import Config
    from classroomd.daemon.agent import Agent
    from tests.foundation.conftest import agent_config

    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other-pki")
    broker = Mosquitto(tmp_path / "tls-broker", listener_options=(
        f"certfile {pki['server.pem']}\nkeyfile {pki['server.key']}\n"))
    broker.start()
    agent: Agent | None = None
    try:
        config: Config = agent_config(tmp_path, f"mqtts://127.0.0.1:{broker.port}",
                                      mqtt={"ca_file": str(other["ca.pem"])})
        agent = Agent(config)
        await agent.start()
        assert not await agent.wait_connected(3), "a server signed by another CA must be refused"
    finally:
        if agent is not None:
            await agent.stop()
        broker.stop()


async def test_username_and_password(tmp_path: Path, make_agent: Any) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    await asyncio.to_thread(
        subprocess.run, ["mosquitto_passwd", "-b", str(passwd), "school", "s3cret"], check=True)
    broker = Mosquitto(tmp_path / "auth-broker", allow_anonymous=False,
                       listener_options=f"password_file {passwd}\n")
    broker.start()
    try:
        agent = await make_agent(broker.url, mqtt={"username": "school", "password": "s3cret"})
        assert agent.client.broker is not None
        await asyncio.wait_for(agent.client.publish("auth/check", b"ok", qos=1), 5)
    finally:
        broker.stop()


async def test_the_first_connect_waits_its_drawn_share_of_the_jitter(mosquitto: Mosquitto,
                                                                      monkeypatch: Any) -> None:
    import random
    import time

    from classroomd.bus.client import BrokerUrl, ClientSettings, MqttClient
    from classroomd.config.schema import Config

    draws: list[tuple[float, float]] = []
    real_uniform = random.uniform

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return 1.5 if (low, high) == (0, 4.0) else real_uniform(low, high)

    monkeypatch.setattr(random, "uniform", uniform)
    for jitter in (4.0, 0.0):
        draws.clear()
        client = MqttClient(ClientSettings([BrokerUrl.parse(mosquitto.url)], f"t-jitter-{jitter}",
                                           first_connect_jitter_s=jitter))
        started = time.monotonic()
        task = asyncio.create_task(client.run())
        try:
            await asyncio.wait_for(client.connected.wait(), 15)
            waited = time.monotonic() - started
        finally:
            await client.stop()
            await task
        if jitter:
            assert draws == [(0, 4.0)] and waited >= 1.5, (draws, waited)
        else:
            assert draws == [], "no jitter configured, yet a delay was drawn"
    # Schools boot together: only the district uplink spreads its first connects by default.
    config = Config.model_validate({"site": "s", "room": "r", "uplink": {"url": "mqtt://district:1883"}})
    assert config.uplink is not None and config.uplink.first_connect_jitter_s == 20.0
    assert config.mqtt.first_connect_jitter_s == 0.0
