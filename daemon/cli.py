"""`classroomd`: the daemon and its client subcommands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from classroomd import __version__
from classroomd.config.loader import ConfigError
from classroomd.config.schema import Config

# Subcommands that live beside their feature: each module has `add_parser(subparsers)`.
FEATURE_COMMANDS = (
    "classroomd.daemon.discover_cmd",
    "classroomd.daemon.cli_print",
    "classroomd.daemon.cli_push",
    "classroomd.daemon.udev_install",
    "classroomd.daemon.doctor",
    "classroomd.daemon.simulate_cmd",
    "classroomd.central.cli",
)


def _load(path: str | None, demo: bool = False) -> Config:
    from classroomd.daemon.demo import demo_defaults

    defaults = demo_defaults() if demo else None
    if path is None:
        return Config.model_validate(defaults or {})
    from classroomd.daemon.config_file import load

    return load(path, defaults)


# --- run ----------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    from classroomd.daemon import logs

    config = _load(args.config, args.demo)
    overrides: dict[str, Any] = {}
    if args.broker:
        overrides["mqtt"] = {**config.mqtt.model_dump(), "url": args.broker}
    if args.http:
        overrides["http"] = {**config.http.model_dump(), "listen": args.http}
    if overrides:
        config = Config.model_validate({**config.model_dump(), **overrides})
    logs.setup(args.log_level, config.agent.log_format)
    if args.demo:
        config = _demo_ports(config)
    return asyncio.run(_run(config, args.demo))


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _demo_ports(config: Config) -> Config:
    """The demo's default ports, or free ones when they are taken.

    Debian starts Mosquitto as a service on 1883 when it is installed, and 8080 is a common port: a
    newcomer's first command must not stop at "port busy". The banner prints the ports in use.
    """
    mqtt, http = config.mqtt.model_dump(), config.http.model_dump()
    if config.mqtt.urls == ["embedded://127.0.0.1:1883"] and not _port_free("127.0.0.1", 1883):
        mqtt["url"] = f"embedded://127.0.0.1:{_free_port('127.0.0.1')}"
        print(f"classroomd: port 1883 is taken (a Mosquitto service?); the demo's broker uses {mqtt['url']}",
              file=sys.stderr)
    if config.http.listen == "127.0.0.1:8080" and not _port_free("127.0.0.1", 8080):
        http["listen"] = f"127.0.0.1:{_free_port('127.0.0.1')}"
        print(f"classroomd: port 8080 is taken; the demo's pages are on {http['listen']}", file=sys.stderr)
    return Config.model_validate({**config.model_dump(), "mqtt": mqtt, "http": http})


async def _run(config: Config, demo: bool) -> int:
    from classroomd.core.systemd_notify import SystemdNotifier
    from classroomd.daemon.agent import Agent
    from classroomd.daemon.demo import SimulatorProcess, SimulatorsFailed
    from classroomd.daemon.embedded_broker import BrokerPortBusy
    from classroomd.daemon.state_dir import StateDirError
    from classroomd.web.server import HttpPortBusy

    simulators = SimulatorProcess(Path(config.agent.state_dir) / "simulators",
                                  {str(d.kind) for d in config.devices}) if demo else None
    sims = []
    agent: Agent | None = None
    try:
        if simulators is not None:
            sims = await simulators.start()
        agent = Agent(config, [s.config for s in sims])
        await agent.start()
    except (BrokerPortBusy, HttpPortBusy, StateDirError, SimulatorsFailed) as exc:
        print(f"classroomd: {exc}", file=sys.stderr)
        if agent is not None:
            await agent.stop()
        if simulators is not None:
            await simulators.close()
        return 2
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, agent.request_stop)
    if demo:
        _print_demo_banner(agent, [s.try_args for s in sims if s.try_args])
    notifier = SystemdNotifier()
    watch: asyncio.Task[None] | None = None
    if notifier.enabled:
        # A school's uplink may be down at boot: wait a little for the broker, never for good.
        await agent.wait_connected(10)
        notifier.ready(_status_line(agent))
        watch = asyncio.create_task(notifier.run(lambda: _status_line(agent)), name="systemd-watchdog")
    try:
        await agent.run_until_stopped()
    finally:
        notifier.stopping()
        if watch is not None:
            watch.cancel()
        await agent.stop()
        if simulators is not None:
            await simulators.close()
    return 0


def _status_line(agent: Any) -> str:
    """What `systemctl status classroomd` shows: devices, broker, outbox."""
    online = sum(1 for d in agent.registry if str(d.availability) == "online")
    broker = "broker connected" if agent.client is not None and agent.client.connected.is_set() else \
        "broker not connected"
    depth = agent.outbox.depth if agent.outbox is not None else 0
    return f"{len(agent.registry)} devices ({online} online), {broker}, outbox {depth}"


def _command_name() -> str:
    """How this process was started, so a printed command line works when pasted (the venv's script or -m)."""
    if Path(sys.argv[0]).name == "classroomd":
        return shlex.quote(sys.argv[0])
    return f"{shlex.quote(sys.executable)} -m classroomd"


def _print_demo_banner(agent: Any, try_commands: list[list[str]]) -> None:
    config: Config = agent.config
    url = config.mqtt.urls[0]
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    root = agent.topics.root
    panel = next((d.id for d in agent.registry if d.kind == "panel"), "panel")
    broker = agent.broker
    embedded = ""
    if url.startswith("embedded://") and broker is not None:
        embedded = f" (embedded {broker.backend}, MQTT {'5' if broker.mqtt5 else '3.1.1'})"
    print(
        f"\nclassroomd {__version__}: demo classroom with {len(agent.registry)} simulated devices\n"
        f"  broker     mqtt://{host}:{port}{embedded}\n"
        f"  watch      mosquitto_sub -h {host} -p {port} -v -t '{root}/#'\n"
        f"  ping       mosquitto_pub -h {host} -p {port} -t '{root}/agent/request/ping' -m '{{}}'\n"
        f"  inventory  {agent.http_base}/api/v1/devices\n"
        f"  board      {agent.http_base}/board?panel={panel}\n"
        f"  state      {agent.state_dir}\n"
        + "".join(f"  try        {_command_name()} {shlex.join(args)} --broker mqtt://{host}:{port}"
                  f" --state-dir {shlex.quote(str(agent.state_dir))}\n" for args in try_commands) +
        "Stop with Ctrl+C.\n",
        flush=True,
    )


# --- config check -------------------------------------------------------------------
def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        from classroomd.daemon.config_file import load

        config = load(args.file)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 1
    print(f"{args.file}: OK: {config.site}/{config.room}, {len(config.devices)} devices, "
          f"broker {', '.join(config.mqtt.urls)}")
    return 0


# --- client subcommands -------------------------------------------------------------
def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="the daemon's config file (broker, site, room)")
    parser.add_argument("--broker", help="broker URL, e.g. mqtt://127.0.0.1:1883")
    parser.add_argument("--site", help="site, when the broker serves several classrooms")
    parser.add_argument("--room", help="room, when the broker serves several classrooms")


def remote_from_args(args: argparse.Namespace) -> Any:
    """A `Remote` for the classroom named by --config or --broker/--site/--room.

    With --config every `[mqtt]` setting applies (fail-over URLs, TLS client certificate,
    credentials); --broker replaces only the URLs.
    """
    from classroomd.bus.broker_settings import client_settings
    from classroomd.bus.rpc import Remote, cli_client_id
    from classroomd.config.schema import MqttConfig

    site, room = args.site, args.room
    mqtt = MqttConfig()
    if args.config:
        from classroomd.daemon.config_file import load

        config = load(args.config)
        site, room, mqtt = site or config.site, room or config.room, config.mqtt
    # An embedded:// URL stays as it is: the client then speaks 3.1.1 to amqtt straight away.
    urls = [args.broker] if args.broker else None
    # Short waits: a person is watching the terminal, and fail-over must reach the last URL in time.
    settings = client_settings(mqtt, cli_client_id(), urls, reconnect_min_s=0.2, reconnect_max_s=1.0,
                               connect_timeout_s=3.0, first_connect_jitter_s=0.0)
    return Remote(settings, mqtt.base_topic, site, room)


def cmd_devices(args: argparse.Namespace) -> int:
    async def fetch() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with remote_from_args(args) as remote:
            topics = await remote.topics()
            agent = await remote.retained(topics.agent)
            return await remote.retained(topics.inventory), agent or {}

    devices, agent = asyncio.run(fetch())
    if args.json:
        print(json.dumps({"agent": agent, "devices": devices}, ensure_ascii=False, indent=2))
        return 0
    print(f"agent: {agent.get('state', '?')}  session {agent.get('session', '?')}  http {agent.get('http', '?')}")
    rows = [("ID", "KIND", "NAME", "AVAILABILITY", "STATUS")]
    rows += [(d["id"], d["kind"], d["name"], d["availability"], d["status"]) for d in devices]
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="classroomd", description="Device agent for digital classrooms")
    parser.add_argument("--version", action="version", version=f"classroomd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", help="config file (TOML)")
    run.add_argument("--demo", action="store_true", help="simulate one device of every kind")
    run.add_argument("--broker", help="mqtt://HOST:PORT, mqtts://HOST:PORT or embedded://HOST:PORT")
    run.add_argument("--http", help="HOST:PORT for the HTTP server")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(func=cmd_run)

    cfg = sub.add_parser("config", help="config file tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = cfg_sub.add_parser("check", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)

    devices = sub.add_parser("devices", help="ask a running daemon for its devices")
    add_client_options(devices)
    devices.add_argument("--json", action="store_true")
    devices.set_defaults(func=cmd_devices)

    for name in FEATURE_COMMANDS:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from classroomd.bus.rpc import RemoteError

        if isinstance(exc, RemoteError | ConnectionError):
            print(f"classroomd: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
