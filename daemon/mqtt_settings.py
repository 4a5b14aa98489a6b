"""How a client of the classroom's broker is built from `[mqtt]`: one place for the daemon and the CLI.

The CLI once built its own client and used only the first URL and the CA file, so it could not
reach a broker that needs a client certificate, nor fail over; both now read the same table.
"""

from __future__ import annotations

from classroomd.bus.client import BrokerUrl, ClientSettings
from classroomd.config.schema import MqttConfig


def client_settings(mqtt: MqttConfig, client_id: str, urls: list[str] | None = None,
                    *, reconnect_min_s: float | None = None, reconnect_max_s: float | None = None,
                    connect_timeout_s: float = 10.0) -> ClientSettings:
    """Settings for a client of `mqtt`'s brokers (or of `urls`, when given, with `mqtt`'s credentials)."""
    return ClientSettings(
        urls=[BrokerUrl.parse(u) for u in (urls or mqtt.urls)],
        client_id=client_id,
        username=mqtt.username, password=mqtt.password,
        ca_file=str(mqtt.ca_file) if mqtt.ca_file else None,
        cert_file=str(mqtt.cert_file) if mqtt.cert_file else None,
        key_file=str(mqtt.key_file) if mqtt.key_file else None,
        tls_insecure=mqtt.tls_insecure, keepalive_s=mqtt.keepalive_s,
        reconnect_min_s=mqtt.reconnect_min_s if reconnect_min_s is None else reconnect_min_s,
        reconnect_max_s=mqtt.reconnect_max_s if reconnect_max_s is None else reconnect_max_s,
        connect_timeout_s=connect_timeout_s,
    )
