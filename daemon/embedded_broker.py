"""The broker that `embedded://HOST:PORT` starts for a classroom PC with nothing else running.

Two back-ends, one behaviour for clients:

- Mosquitto as a private child process, when the `mosquitto` binary is installed: MQTT 5 and
  3.1.1, a C broker that costs the daemon no CPU, and retained messages and persistent sessions
  kept in the state dir across restarts.
- amqtt inside the daemon otherwise (MQTT 3.1.1 only), and whenever Mosquitto fails to start.

`CLASSROOMD_EMBEDDED_BROKER=amqtt` (or `mosquitto`) overrides the choice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from amqtt.broker import Broker

log = logging.getLogger("classroomd.broker")

Backend = Literal["mosquitto", "amqtt"]
BACKEND_ENV = "CLASSROOMD_EMBEDDED_BROKER"
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
# A broker that dies sooner than this after starting would die again: restarting it in a loop
# would keep the classroom off the air, amqtt will not.
_MIN_UPTIME_S = 30.0


class BrokerPortBusy(Exception):
    pass


class _StartFailed(Exception):
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


def mosquitto_binary() -> str | None:
    # Debian puts the broker in /usr/sbin, which is not on a normal user's PATH.
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def _requested_backend() -> Backend | None:
    value = os.environ.get(BACKEND_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value == "mosquitto":
        return "mosquitto"
    if value == "amqtt":
        return "amqtt"
    log.warning("%s=%s is neither mosquitto nor amqtt; choosing by what is installed", BACKEND_ENV, value)
    return None


class EmbeddedBroker:
    """`state_dir` holds Mosquitto's config and persistence (in `broker/`); without one, a
    temporary folder is used and nothing outlives the daemon. `backend` overrides the
    environment and the automatic choice."""

    def __init__(self, host: str, port: int, state_dir: Path | None = None,
                 backend: Backend | None = None) -> None:
        self.host = host
        self.port = port
        self.state_dir = state_dir
        self._requested = backend
        self._running: _MosquittoChild | _AmqttBroker | None = None

    @property
    def backend(self) -> Backend | None:
        """Which broker is running, or None before start and after stop."""
        if isinstance(self._running, _MosquittoChild):
            return "mosquitto"
        return "amqtt" if self._running is not None else None

    @property
    def mqtt5(self) -> bool:
        """Whether the running broker speaks MQTT 5 (Mosquitto) or only 3.1.1 (amqtt)."""
        return isinstance(self._running, _MosquittoChild)

    async def start(self) -> None:
        _check_port(self.host, self.port)
        wanted = self._requested or _requested_backend()
        if wanted != "amqtt":
            binary = mosquitto_binary()
            if binary is None:
                if wanted == "mosquitto":
                    log.warning("embedded broker: mosquitto is not installed; using amqtt (MQTT 3.1.1)")
            else:
                child = _MosquittoChild(binary, self.host, self.port, self.state_dir, self._fall_back)
                try:
                    await child.start()
                except _StartFailed as exc:
                    await child.stop()
                    log.warning("embedded broker: mosquitto did not start (%s); using amqtt (MQTT 3.1.1)", exc)
                else:
                    self._running = child
                    log.info("embedded broker listening on %s:%d (Mosquitto, MQTT 5 and 3.1.1, state in %s)",
                             self.host, self.port, child.workdir)
                    return
        await self._start_amqtt()

    async def _start_amqtt(self) -> None:
        broker = _AmqttBroker(self.host, self.port)
        await broker.start()
        self._running = broker
        log.info("embedded broker listening on %s:%d (amqtt, MQTT 3.1.1)", self.host, self.port)

    async def _fall_back(self, child: _MosquittoChild) -> None:
        """Mosquitto died while the daemon runs and could not be restarted: keep the port served."""
        if self._running is not child:  # stopped meanwhile
            return
        self._running = None
        await child.stop()
        try:
            _check_port(self.host, self.port)
            await self._start_amqtt()
        except Exception as exc:  # the daemon keeps running; its client reports the broker as down
            log.error("embedded broker: cannot start amqtt either: %s", exc)

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            with contextlib.suppress(Exception):
                await running.stop()


# --- Mosquitto -------------------------------------------------------------------------
def _runs_as_root_notice(line: str) -> bool:
    # A daemon run as root runs its broker as root too, on purpose (see `user` in the config);
    # mosquitto's warning about it at every start would only teach people to ignore warnings.
    return "should not be run as root" in line


def _log_mosquitto(line: str) -> None:
    log.log(logging.INFO if _runs_as_root_notice(line) else logging.WARNING, "mosquitto: %s", line)


class _MosquittoChild:
    """A private Mosquitto: its own config and persistence, listening only where the URL says,
    stopped with the daemon, restarted when it dies, given up for amqtt when it keeps dying."""

    def __init__(self, binary: str, host: str, port: int, state_dir: Path | None,
                 on_lost: Callable[[_MosquittoChild], Awaitable[None]]) -> None:
        self.binary = binary
        self.host = host
        self.port = port
        self._temporary = state_dir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="classroomd-broker-")) if state_dir is None \
            else state_dir / "broker"
        self._on_lost = on_lost
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=5)
        self._reader: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False
        self._listening = False
        self._listening_since = 0.0

    def _config(self) -> str:
        lines = [
            "# Written by classroomd at every start of the embedded broker; edits are overwritten.",
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.workdir}/",
            # Retained state is republished by the daemon on connect; the saves protect other
            # clients' persistent sessions, and a shutdown always saves.
            "autosave_interval 60",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_timestamp false",
            "connection_messages false",
        ]
        # Started as root, mosquitto switches to user "mosquitto", which cannot write the state dir.
        with contextlib.suppress(KeyError):
            lines.insert(1, f"user {pwd.getpwuid(os.geteuid()).pw_name}")
        return "\n".join(lines) + "\n"

    async def start(self) -> None:
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(self._config())
        except OSError as exc:
            raise _StartFailed(f"cannot write its config in {self.workdir}: {exc.strerror}") from None
        await self._spawn(conf)
        self._watch = asyncio.create_task(self._watch_child(conf), name="embedded-broker")

    async def _spawn(self, conf: Path) -> None:
        command = [self.binary, "-c", str(conf)]
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            # A SIGKILLed daemon would otherwise leave the broker holding the port.
            command = [setpriv, "--pdeathsig", "TERM", "--", *command]
        self._stderr.clear()
        self._listening = False
        try:
            # Its own session: Ctrl+C in the terminal must reach the daemon alone, which then
            # disconnects cleanly before stopping the broker.
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            raise _StartFailed(f"{self.binary}: {exc.strerror}") from None
        self._proc = proc
        self._reader = asyncio.create_task(self._forward_log(proc))
        try:
            await self._wait_listening(proc)
        except BaseException:
            await self._end(proc)
            raise
        # What it said while starting is in the fall-back line when it fails, and logged when not.
        self._listening = True
        self._listening_since = asyncio.get_running_loop().time()
        for line in self._stderr:
            _log_mosquitto(line)

    async def _forward_log(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").strip()
            if line:
                self._stderr.append(line)
                if self._listening:
                    _log_mosquitto(line)

    async def _wait_listening(self, proc: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT_S
        while True:
            if proc.returncode is not None:
                raise _StartFailed(await self._exit_reason(proc))
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                pass
            else:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            if loop.time() > deadline:
                raise _StartFailed(f"nothing listens on {self.host}:{self.port} after {_START_TIMEOUT_S:g}s")
            await asyncio.sleep(0.02)

    async def _exit_reason(self, proc: asyncio.subprocess.Process) -> str:
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), 1)
        if self._listening:  # what it said since then is in the log already
            return f"exit code {proc.returncode}"
        said = " / ".join(line for line in self._stderr if not _runs_as_root_notice(line)) or "no message"
        return f"exit code {proc.returncode}: {said}"

    async def _watch_child(self, conf: Path) -> None:
        proc = self._proc
        assert proc is not None
        await proc.wait()
        if self._stopping:
            return
        reason = await self._exit_reason(proc)
        uptime = asyncio.get_running_loop().time() - self._listening_since
        if uptime < _MIN_UPTIME_S:
            log.error("embedded broker: mosquitto exited %.0fs after it started (%s); using amqtt (MQTT 3.1.1)",
                      uptime, reason)
            await self._on_lost(self)
            return
        log.error("embedded broker: mosquitto exited (%s); restarting it", reason)
        await asyncio.sleep(1)
        try:
            _check_port(self.host, self.port)
            await self._spawn(conf)
        except (_StartFailed, BrokerPortBusy, OSError) as exc:
            log.error("embedded broker: mosquitto cannot be restarted (%s); using amqtt (MQTT 3.1.1)", exc)
            await self._on_lost(self)
            return
        self._watch = asyncio.create_task(self._watch_child(conf), name="embedded-broker")

    async def _end(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            # SIGTERM lets mosquitto save its persistence file.
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reader, 1)

    async def stop(self) -> None:
        self._stopping = True
        if self._watch is not None and self._watch is not asyncio.current_task():
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._proc is not None:
            await self._end(self._proc)
        if self._temporary:
            shutil.rmtree(self.workdir, ignore_errors=True)


# --- amqtt -------------------------------------------------------------------------------
def _amqtt_broker(config: dict[str, Any]) -> Broker:
    """An amqtt broker that sends a client retained messages only for its own subscriptions.

    Since 0.11.2, amqtt sends every connecting client the retained messages matching *every*
    client's topic filters, before it has subscribed to anything: `_handle_client_session`
    walks the broker-wide subscription map where it means a resumed session's own. A second
    `mosquitto_sub` thus gets the first one's topics, and copies of its own. Client ids are not
    the cause: amqtt gives each client without one its own generated id and session.

    No plugin hook sees retained messages, so the one private method that sends them is
    narrowed to filters the receiving session holds; on SUBSCRIBE the filter is added before
    the call, so a new subscription still gets its retained messages. The method exists with
    this signature in every amqtt that pyproject.toml allows (>=0.11,<0.13; read in 0.11.0 to
    0.12.1); tests/foundation/test_embedded_broker.py fails on a release that changes it."""
    from amqtt.broker import Broker
    from amqtt.session import Session

    class OwnRetainedOnly(Broker):  # type: ignore[misc]  # amqtt ships no type information
        async def _publish_retained_messages_for_subscription(
                self, subscription: tuple[str, int], session: Session) -> None:
            holders = self.subscriptions.get(subscription[0], [])
            if any(holder.client_id == session.client_id for holder, _ in holders):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    broker: Broker = OwnRetainedOnly(config)
    return broker


class _AmqttBroker:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._broker: Broker | None = None

    async def start(self) -> None:
        # amqtt logs every packet at INFO; keep the daemon's log readable.
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("asyncio").addFilter(_ClientHungUp())
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = _amqtt_broker(config)  # only a daemon that runs amqtt pays for importing it
        await self._broker.start()

    async def stop(self) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                await self._broker.shutdown()
            self._broker = None
