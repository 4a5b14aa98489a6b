"""`classroomd discover [--json]`: one discovery pass, written for the lab engineer."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from classroomd.config.schema import Config
from classroomd.daemon.catalog import Catalog, CatalogError
from classroomd.daemon.config_file import load as load_config
from classroomd.daemon.discovery import Discovery, ScanResult, describe_found
from classroomd.devices.base import DeviceInfo


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "discover", help="one discovery pass without MQTT: what was found, as what, and why")
    parser.add_argument("--config", help="config file whose [[devices]] entries bind or declare devices")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--catalog", help="a device catalog to use instead of the packaged one")
    parser.add_argument("--no-probe", action="store_true", help="do not send M115 to printer ports")
    parser.add_argument("--network", type=float, default=0.0, metavar="SECONDS",
                        help="also browse mDNS for network printers for this long")
    parser.set_defaults(func=cmd_discover)


async def _network_pass(seconds: float) -> list[DeviceInfo]:
    from classroomd.daemon.mdns import NetworkBrowser

    found: dict[str, DeviceInfo] = {}

    def lost(device_id: str) -> None:
        found.pop(device_id, None)

    browser = NetworkBrowser(lambda info: found.__setitem__(info.id, info), lost)
    await browser.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await browser.stop()
    return list(found.values())


async def run_pass(catalog: Catalog, config: Config | None, probe: bool, network_s: float) -> ScanResult:
    discovery = Discovery(catalog, config, lambda _i: None, lambda _i: None,
                          probe=probe, probe_declared=probe)
    if network_s > 0:
        result, network = await asyncio.gather(discovery.scan_and_probe(), _network_pass(network_s))
        result.devices.extend(network)
        return result
    return await discovery.scan_and_probe()


def cmd_discover(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else Config()
    try:
        catalog = Catalog.load(args.catalog)
    except (CatalogError, OSError) as exc:
        print(f"classroomd: {exc}", file=sys.stderr)
        return 2
    result = asyncio.run(run_pass(catalog, config, not args.no_probe, args.network))
    declared = _declared_only(config, result)
    if args.json:
        out = result.describe()
        out["declared"] = declared
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print_text(result, declared, sys.stdout)
    return 0


def _declared_only(config: Config, result: ScanResult) -> list[dict[str, Any]]:
    """Config entries discovery did not see (network panels, globes, ports not plugged in)."""
    seen = {d.id for d in result.devices}
    return [{"id": d.id, "kind": str(d.kind), "name": d.name or d.id,
             "paths": [p for p in (d.port, d.source) if p] or ([f"{d.host}:{d.tcp_port}"] if d.host else []),
             "matched_by": "config entry (not seen by discovery)"}
            for d in config.devices if d.enabled and d.id not in seen]


def _usb(vid: int | None, pid: int | None) -> str:
    return f"{vid:04x}:{pid:04x}" if vid is not None and pid is not None else "-"


def print_text(result: ScanResult, declared: list[dict[str, Any]], out: TextIO) -> None:
    devices = [describe_found(d) for d in result.devices]
    if devices:
        print(f"Found {len(devices)} classroom device{'s' if len(devices) != 1 else ''}:", file=out)
    else:
        print("No classroom devices found: nothing plugged in is known to the catalog or the config.", file=out)
    for info, d in zip(result.devices, devices, strict=True):
        print(f"  {d['kind']:<12} {d['id']}  \"{d['name']}\"", file=out)
        print(f"      paths    {' '.join(d['paths']) or '-'}", file=out)
        serial = f"   serial {info.serial}" if info.serial else ""
        print(f"      usb      {_usb(info.vid, info.pid)}{serial}   transport {info.transport or '-'}", file=out)
        print(f"      rule     {d['matched_by']}", file=out)
        if "firmware" in d:
            print(f"      firmware {d['firmware']}", file=out)
        if "status" in d:
            print(f"      status   {d['status']}: {d.get('reason', '')}", file=out)
    if declared:
        print(f"\nDeclared in the config but not seen ({len(declared)}):", file=out)
        for d in declared:
            print(f"  {d['kind']:<12} {d['id']}  \"{d['name']}\"  {' '.join(d['paths'])}", file=out)
    if result.unclassified:
        print(f"\nSeen but not classified ({len(result.unclassified)}):", file=out)
        for u in result.unclassified:
            serial = f"   serial {u.serial}" if u.serial else ""
            print(f"  \"{u.name}\"  usb {_usb(u.vid, u.pid)}{serial}  {' '.join(u.paths) or '-'}", file=out)
            if u.matched_by:
                print(f"      rule     {u.matched_by}", file=out)
            print(f"      why      {u.reason}", file=out)
