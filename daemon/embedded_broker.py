"""An in-process MQTT broker (amqtt) for a classroom PC with nothing else installed.

amqtt speaks MQTT 3.1.1 only; the client falls back to it by itself.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from amqtt.broker import Broker

log = logging.getLogger("classroomd.broker")


class BrokerPortBusy(Exception):
    pass


class _ClientHungUp(logging.Filter):
    """amqtt lets an OSError escape when it closes a client that already hung up (an MQTT 5
    client giving up on it before falling back to 3.1.1); asyncio then logs a traceback.
    Nothing is wrong with the broker: log one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Unhandled exception in client_connected_cb") and record.exc_info:
            exc = record.exc_info[1]
            if isinstance(exc, OSError):
                log.info("embedded broker: a client hung up during CONNECT (%s)", exc.strerror or exc)
                return False
        return True


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BrokerPortBusy(
                    f"cannot start the embedded broker: port {port} on {host} is already in use "
                    f"(another broker?). Use --broker embedded://{host}:<free port>, or "
                    f"--broker mqtt://{host}:{port} to use the broker that is running there"
                ) from None
            raise


class EmbeddedBroker:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._broker: Broker | None = None

    async def start(self) -> None:
        _check_port(self.host, self.port)
        # amqtt logs every packet at INFO; keep the daemon's log readable.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("asyncio").addFilter(_ClientHungUp())
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        from amqtt.broker import Broker  # only a daemon with an embedded:// URL pays for amqtt

        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded broker listening on %s:%d (MQTT 3.1.1)", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                await self._broker.shutdown()
            self._broker = None
