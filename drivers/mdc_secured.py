"""Samsung MDC "Secured Protocol": the TLS and PIN login some displays require on TCP 1515.

A display with Secured Protocol on greets every connection with `MDCSTART<<TLS>>` in
clear, then expects a TLS handshake and, inside it, the PIN set in its menu as ASCII.
It answers `MDCAUTH<<PASS>>`, or `MDCAUTH<<FAIL:0x01>>` (wrong PIN) and
`MDCAUTH<<FAIL:0x02>>` (blocked after too many wrong PINs); after PASS the ordinary
MDC frames flow through the TLS session. (Byte strings as in WeeJeWel/node-samsung-mdc.)
"""

from __future__ import annotations

import asyncio
import ssl

from classroomd.drivers.panel_protocols import MDC_AUTH_FAIL, MDC_AUTH_PASS, MDC_TLS_BANNER
from classroomd.drivers.serial_link import LinkClosed
from classroomd.drivers.tcp_link import TcpLink


class MdcLoginRefused(Exception):
    """The display refused the PIN (or is blocked); trying again with the same PIN only makes it worse."""


def client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Each display makes its own self-signed certificate, with no name to check; the PIN is the
    # credential here, and TLS keeps it off the wire in clear.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _read_until(link: TcpLink, wanted: tuple[bytes, ...], timeout_s: float) -> bytes:
    heard = bytearray()
    async with asyncio.timeout(timeout_s):
        while not any(w in heard for w in wanted):
            heard += await link.read_some()
    return bytes(heard)


async def log_in(link: TcpLink, pin: str, timeout_s: float) -> None:
    """On a freshly opened link: wait for the banner, switch to TLS, send the PIN, expect PASS."""
    try:
        await _read_until(link, (MDC_TLS_BANNER,), timeout_s)
    except TimeoutError:
        raise LinkClosed(f"{link.path}: mdc_pin is set but the display did not ask for TLS "
                         f"(no MDCSTART<<TLS>> within {timeout_s:g}s); is Secured Protocol on?") from None
    await link.start_tls(client_context(), timeout_s)
    await link.write(pin.encode("ascii"))
    try:
        answer = await _read_until(link, (MDC_AUTH_PASS, MDC_AUTH_FAIL), timeout_s)
    except TimeoutError:
        raise LinkClosed(f"{link.path}: no answer to the PIN within {timeout_s:g}s") from None
    if MDC_AUTH_PASS in answer:
        link.discard_input()
        return
    code = answer[answer.find(MDC_AUTH_FAIL) + len(MDC_AUTH_FAIL):].strip(b":>").decode("ascii", "replace")
    reason = {"0x01": "wrong PIN", "0x02": "blocked after too many wrong PINs"}.get(code, f"refused ({code})")
    raise MdcLoginRefused(f"the display refused the Secured Protocol login: {reason}")
