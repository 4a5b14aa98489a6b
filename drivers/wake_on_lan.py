"""Wake-on-LAN: the magic packet that switches on a panel whose network port sleeps with it.

Panels in standby often stop listening on their control port (LG, ViewSonic, some
Samsung and BenQ models), so no command can reach them; their network card still
watches for a UDP datagram holding six 0xFF bytes and then the panel's MAC address
sixteen times (AMD's "Magic Packet" white paper; UDP port 9, the discard service, by
convention). Nothing comes back: the only proof it worked is the panel appearing.
"""

from __future__ import annotations

import asyncio
import re
import socket

BROADCAST = "255.255.255.255"
DEFAULT_PORT = 9

_MAC = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$", re.IGNORECASE)


def parse_mac(text: str) -> bytes:
    """The six bytes of a MAC written `aa:bb:cc:dd:ee:ff`, `aa-bb-…` or `aabbccddeeff`."""
    if not _MAC.match(text.strip()):
        raise ValueError(f"{text!r} is not a MAC address (write it like 00:1a:2b:3c:4d:5e)")
    return bytes.fromhex(re.sub(r"[:-]", "", text.strip()))


def magic_packet(mac: str) -> bytes:
    return b"\xff" * 6 + parse_mac(mac) * 16


async def send_magic_packet(mac: str, address: str = BROADCAST, port: int = DEFAULT_PORT) -> None:
    """Send one magic packet; broadcast by default, or to a directed address (a subnet's broadcast)."""
    packet = magic_packet(mac)
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        # Broadcast needs the option on Linux; it is harmless for a unicast address.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        await loop.sock_sendto(sock, packet, (address, port))
