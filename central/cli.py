"""`classroomd central …`: registered by the agent's CLI, imports its work lazily."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    central = subparsers.add_parser("central", help="the district's server: ingest, presence, alerts, API")
    sub = central.add_subparsers(dest="central_command", required=True)

    run = sub.add_parser("run", help="ingest from the broker and serve the HTTP API")
    run.add_argument("--config", help="TOML file with a [central] section")
    run.add_argument("--db", help="sqlite:///PATH (default: in the state dir) or postgresql://USER@HOST:PORT/DB")
    run.add_argument("--broker", help="mqtt://HOST:PORT (default mqtt://127.0.0.1:1883)")
    run.add_argument("--http", help="HOST:PORT of the API (default 127.0.0.1:8090)")
    run.add_argument("--state-dir", help="database (SQLite) and API token (default /var/lib/classroomd-central)")
    run.add_argument("--role", choices=["all", "ingest", "api"], help="run only the ingester or only the API")
    run.add_argument("--lanes", choices=["all", "events"],
                     help="events: an extra ingester that only takes its share of the event lane")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("simulate", help="run simulated classrooms that speak the contract")
    sim.add_argument("--classrooms", type=int, default=3)
    sim.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    sim.add_argument("--site-prefix", default="sim-school")
    sim.add_argument("--health-interval", type=float, default=30.0)
    sim.add_argument("--event-interval", type=float, default=10.0,
                     help="mean seconds between one classroom's events (0: none)")
    sim.add_argument("--churn", type=float, default=0.0,
                     help="mean seconds between incidents across the fleet: a device fails and recovers, "
                          "a classroom drops off and comes back (0: none)")
    sim.add_argument("--duration", type=float, default=0.0, help="seconds to run (0: until Ctrl+C)")
    sim.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sim.set_defaults(func=cmd_simulate)

    acct = sub.add_parser("account", help="add a dashboard account or set its role and password")
    acct.add_argument("name")
    acct.add_argument("--role", required=True, choices=["viewer", "engineer", "admin"],
                      help="viewer reads; engineer also acknowledges alerts; admin also provisions")
    acct.add_argument("--password-stdin", action="store_true",
                      help="read the password from standard input (default: make one and print it once)")
    acct.add_argument("--config", help="TOML file with a [central] section")
    acct.add_argument("--db", help="the database central runs on (default: in the state dir)")
    acct.add_argument("--state-dir", help="default /var/lib/classroomd-central")
    acct.set_defaults(func=cmd_account)

    sch = sub.add_parser("schools", help="the school registry: district and name of each site")
    sch_sub = sch.add_subparsers(dest="schools_command", required=True)
    imp = sch_sub.add_parser("import", help="add or replace schools from a CSV file: site,district,name")
    imp.add_argument("file", help="UTF-8 CSV, one school a line, an optional header line site,district,name")
    imp.add_argument("--config", help="TOML file with a [central] section")
    imp.add_argument("--db", help="the database central runs on (default: in the state dir)")
    imp.add_argument("--state-dir", help="default /var/lib/classroomd-central")
    imp.set_defaults(func=cmd_schools_import)

    prov = sub.add_parser("provision", help="broker credentials and ACL for a classroom (Mosquitto)")
    prov.add_argument("--site", required=True)
    prov.add_argument("--room", required=True)
    prov.add_argument("--dir", default="/etc/mosquitto/classroomd",
                      help="where the password file, ACL and list of classrooms live")
    prov.add_argument("--broker", default="mqtt://127.0.0.1:1883",
                      help="the broker URL as the classroom reaches it (printed in its config stanza)")
    prov.add_argument("--base-topic", default="classroom")
    prov.set_defaults(func=cmd_provision)

    add_config_parser(sub)


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_run(args: argparse.Namespace) -> int:
    from classroomd.central.config import CentralConfigError, load
    from classroomd.central.db import DatabaseError
    from classroomd.central.service import HttpPortBusy, StateDirError, serve

    _logging(args.log_level)
    try:
        cfg = load(args.config, {"db": args.db, "broker": args.broker, "http": args.http,
                                 "state_dir": args.state_dir, "role": args.role, "lanes": args.lanes})
        asyncio.run(serve(cfg))
    except (CentralConfigError, DatabaseError, HttpPortBusy, StateDirError) as exc:
        print(f"classroomd central: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from classroomd.central.simulate import Simulation

    _logging(args.log_level)
    sim = Simulation(args.broker, args.classrooms, site_prefix=args.site_prefix,
                     health_interval_s=args.health_interval, event_interval_s=args.event_interval,
                     churn_interval_s=args.churn)
    asyncio.run(sim.run(args.duration or None))
    return 0


def cmd_account(args: argparse.Namespace) -> int:
    import secrets

    from classroomd.central.accounts import AccountError
    from classroomd.central.config import CentralConfigError, load
    from classroomd.central.db import DatabaseError

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else secrets.token_urlsafe(12)
    try:
        cfg = load(args.config, {"db": args.db, "state_dir": args.state_dir})
        if cfg.db is None:
            cfg.state_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(_set_account(cfg.db_url, args.name, args.role, password))
    except (AccountError, CentralConfigError, DatabaseError, OSError) as exc:
        print(f"classroomd central account: {exc}", file=sys.stderr)
        return 2
    print(f"account {args.name!r} ({args.role}) saved" + ("" if args.password_stdin else f"; password: {password}"))
    return 0


async def _set_account(db_url: str, name: str, role: str, password: str) -> None:
    from classroomd.central import accounts
    from classroomd.central.db import open_database

    engine = await open_database(db_url)
    try:
        await accounts.ensure_tables(engine)
        await accounts.set_account(engine, name, role, password)
    finally:
        await engine.dispose()


def cmd_schools_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from classroomd.central.config import CentralConfigError, load
    from classroomd.central.db import DatabaseError
    from classroomd.central.schools import SchoolsError, parse_csv

    try:
        rows = parse_csv(Path(args.file).read_text(encoding="utf-8"))
        cfg = load(args.config, {"db": args.db, "state_dir": args.state_dir})
        if cfg.db is None:
            cfg.state_dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(_import_schools(cfg.db_url, rows))
    except SchoolsError as exc:
        print(f"classroomd central schools import: {args.file}:\n{exc}", file=sys.stderr)
        return 2
    except (CentralConfigError, DatabaseError, OSError, UnicodeDecodeError) as exc:
        print(f"classroomd central schools import: {exc}", file=sys.stderr)
        return 2
    districts = len({r.district for r in rows if r.district})
    print(f"{len(rows)} schools in {districts} districts saved")
    return 0


async def _import_schools(db_url: str, rows: list[Any]) -> None:
    from classroomd.central import schools
    from classroomd.central.db import open_database

    engine = await open_database(db_url)
    try:
        await schools.ensure_tables(engine)
        await schools.save(engine, rows)
    finally:
        await engine.dispose()


def cmd_provision(args: argparse.Namespace) -> int:
    from pathlib import Path

    from classroomd.central.provision import BrokerAuth, ProvisionError, config_stanza

    auth = BrokerAuth(Path(args.dir), args.base_topic)
    try:
        creds = auth.provision(args.site, args.room)
    except ProvisionError as exc:
        print(f"classroomd central provision: {exc}", file=sys.stderr)
        return 2
    central = auth.central()
    print(f"# {args.site}/{args.room}: paste into the classroom's classroomd.toml (the password is shown once;")
    print("# provisioning again makes a new one)")
    print(config_stanza(args.site, args.room, args.broker, creds, args.base_topic))
    print("# broker: add to mosquitto.conf once, then reload Mosquitto (systemctl reload mosquitto):\n"
          + "".join(f"#   {line}\n" for line in auth.mosquitto_conf().splitlines())
          + f"# central connects as {central.username!r}; its password is in {auth.directory / 'central.password'}")
    return 0


# --- config check: the packaged /etc/classroomd/central.toml, before `systemctl enable` --------------
def add_config_parser(sub: Any) -> None:
    config = sub.add_parser("config", help="central's configuration file")
    config_sub = config.add_subparsers(dest="central_config_command", required=True)
    check = config_sub.add_parser("check", help="validate the [central] section of a file")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)


def cmd_config_check(args: argparse.Namespace) -> int:
    import re

    from classroomd.central.config import CentralConfigError, load

    try:
        cfg = load(args.file)
    except CentralConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    database = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", cfg.db_url)  # a config check is often pasted
    print(f"{args.file}: OK: central ({cfg.role}), database {database}, broker {', '.join(cfg.brokers)}, "
          f"API on {cfg.http}")
    return 0
