"""How a client is built from a config section (`[mqtt]` or `[uplink]`): one place for the agent,
its uplink and the CLI.

The CLI once built its own client and used only the first URL and the CA file, so it could not
reach a broker that needs a client certificate, nor fail over; the uplink once copied the same
mapping. All now read the same section type.
"""

from __future__ import annotations

from classroomd.bus.client import BrokerUrl, ClientSettings
from classroomd.config.schema import BrokerConnection


def client_settings(conn: BrokerConnection, client_id: str, urls: list[str] | None = None,
                    *, reconnect_min_s: float | None = None, reconnect_max_s: float | None = None,
                    connect_timeout_s: float = 10.0, first_connect_jitter_s: float | None = None) -> ClientSettings:
    """Settings for a client of `conn`'s brokers (or of `urls`, when given, with `conn`'s credentials)."""
    return ClientSettings(
        urls=[BrokerUrl.parse(u) for u in (urls or conn.urls)],
        client_id=client_id,
        username=conn.username, password=conn.password,
        ca_file=str(conn.ca_file) if conn.ca_file else None,
        cert_file=str(conn.cert_file) if conn.cert_file else None,
        key_file=str(conn.key_file) if conn.key_file else None,
        tls_insecure=conn.tls_insecure, keepalive_s=conn.keepalive_s,
        reconnect_min_s=conn.reconnect_min_s if reconnect_min_s is None else reconnect_min_s,
        reconnect_max_s=conn.reconnect_max_s if reconnect_max_s is None else reconnect_max_s,
        connect_timeout_s=connect_timeout_s,
        first_connect_jitter_s=(conn.first_connect_jitter_s if first_connect_jitter_s is None
                                else first_connect_jitter_s),
    )
