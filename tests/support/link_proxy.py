"""A TCP relay standing in for a real link: it can be cut, stalled and, when asked, shaped.

`tc netem` is not available on these machines' kernels, so shaping is done here, in asyncio: each
direction is one serial line (shared by every connection through the proxy, as one radio link would
be) that carries `rate_bps` after `delay_s`. Without a rate the relay passes bytes as they come.

Bytes are counted per direction where they leave the proxy, byte for byte, so that a peer's own
count of what it sent can be checked exactly against what the wire carried.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from tests.support.mosquitto import free_port

#: Small enough that one chunk does not hold a shaped line for long; unshaped, reads take what is there.
SHAPED_CHUNK = 4096
CHUNK = 65536


class Direction:
    """One way of the link: when its line is free again, and what it delivered."""

    def __init__(self) -> None:
        self.free_at = 0.0
        self.bytes = 0


class LinkProxy:
    def __init__(self, target_port: int, rate_bps: float | None = None, delay_s: float = 0.0,
                 host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self.port = free_port()
        self.rate_bps = rate_bps
        self.delay_s = delay_s
        self.down = Direction()  # target -> client (broker -> agent)
        self.up = Direction()    # client -> target (agent -> broker)
        self.connections = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def upstream_bytes(self) -> int:
        return self.up.bytes

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)

    async def cut(self) -> None:
        """The link goes down: connections die, new ones are refused until `restore`."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    def stall(self) -> None:
        """Bytes stop moving but connections stay open (a radio fade)."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def close(self) -> None:
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        if self._server is None:  # cut while the target was still answering: the connection must not outlive it
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        carriers = [asyncio.create_task(self._carry(src, dst, way))
                    for src, dst, way in ((reader, up_writer, self.up), (up_reader, writer, self.down))]
        for task in carriers:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Held open until both ways end, so that a teardown which only cuts leaves no orphaned tasks.
        await asyncio.gather(*carriers, return_exceptions=True)

    async def _carry(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, way: Direction) -> None:
        # Reading and sending are separate so that the delay is latency, not a cap on throughput.
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        chunk = CHUNK if self.rate_bps is None else SHAPED_CHUNK

        async def read() -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(chunk):
                    await queue.put((time.monotonic(), data))
            await queue.put(None)

        reading = asyncio.create_task(read())
        try:
            while (item := await queue.get()) is not None:
                arrived, data = item
                await self._flowing.wait()
                now = time.monotonic()
                start = max(arrived + self.delay_s, way.free_at, now)
                way.free_at = start + (0.0 if self.rate_bps is None else len(data) * 8 / self.rate_bps)
                if way.free_at > now:
                    await asyncio.sleep(way.free_at - now)
                if dst.is_closing():
                    break
                dst.write(data)
                way.bytes += len(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            reading.cancel()
            dst.transport.abort()
            self._writers.discard(dst)
