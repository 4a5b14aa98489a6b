"""`classroomd udev install`: udev rules for the daemon's devices, generated from the catalog.

The rules give the daemon's group access (GROUP/MODE: a system daemon has no seat, so `uaccess`
does not help it), keep ModemManager away from printers and serial bridges
(`ID_MM_DEVICE_IGNORE`), add stable names under `/dev/classroom/` and ask systemd to start
classroomd when a classroom device is plugged in. `udev/70-classroomd.rules` in the source tree
is this module's output for the shipped catalog (a test keeps them equal), so a wheel installs
the same rules without carrying the file.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from classroomd.daemon.catalog import Catalog, Rule

RULES_NAME = "70-classroomd.rules"
DEFAULT_DEST = "/etc/udev/rules.d"
DEFAULT_GROUP = "classroomd"
SERVICE = "classroomd.service"


def _ci_glob(pattern: str) -> str:
    """udev globs are case-sensitive; the catalog's names are not."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in pattern)


def _ids(rule: Rule) -> str:
    out = f'ATTRS{{idVendor}}=="{rule.vid:04x}"' if rule.vid is not None else ""
    if rule.pid is not None:
        out += f', ATTRS{{idProduct}}=="{rule.pid:04x}"'
    return out


def _comment(rule: Rule) -> str:
    what = " ".join(p for p in (rule.vendor, rule.model) if p)
    return f"# {rule.id}: {what}" if what else f"# {rule.id}"


def render_rules(catalog: Catalog, group: str = DEFAULT_GROUP) -> str:
    lines = [
        f"# {RULES_NAME}: classroom devices for the classroomd daemon.",
        "# Generated from classroomd's device catalog by `classroomd udev install`; see docs/discovery.md.",
        "# GROUP/MODE give the daemon's group access (uaccess only reaches a logged-in desktop user);",
        "# ID_MM_DEVICE_IGNORE keeps ModemManager from sending AT commands into printers and serial bridges;",
        "# /dev/classroom/ names survive re-enumeration; SYSTEMD_WANTS starts the daemon on plug.",
        "",
        'ACTION=="remove", GOTO="classroomd_end"',
        "",
        "# --- serial ports: 3D printers (probed with M115) -------------------------------------------",
    ]
    for rule in catalog.rules:
        if rule.kind == "printer" and rule.vid is not None:
            lines += [_comment(rule), f'SUBSYSTEM=="tty", {_ids(rule)}, ENV{{CLASSROOMD_KIND}}="printer"']
    lines += ["", "# --- serial ports: generic USB-serial bridges (never probed; a panel or printer behind them) --"]
    for rule in catalog.rules:
        if rule.bridge and rule.vid is not None:
            lines += [_comment(rule), f'SUBSYSTEM=="tty", {_ids(rule)}, ENV{{CLASSROOMD_KIND}}="serial"']
    lines += ["", "# --- tablets, touch frames and whiteboards: event and hidraw nodes ----------------------------"]
    # All ATTRS keys of a rule must match one parent, so names (on inputN) cannot join ids (on the USB
    # device): rules that differ only by name (Huion/Gaomon) share one line.
    seen: set[tuple[int | None, int | None]] = set()
    for rule in catalog.rules:
        if rule.kind in ("tablet", "touch", "panel", "touch_table") and rule.vid is not None:
            if (rule.vid, rule.pid) in seen:
                continue
            seen.add((rule.vid, rule.pid))
            kind = "touch" if rule.kind in ("touch", "touch_table") else rule.kind
            ids = _ids(rule)
            lines += [_comment(rule),
                      f'SUBSYSTEM=="input", KERNEL=="event*", {ids}, ENV{{CLASSROOMD_KIND}}="{kind}"',
                      f'SUBSYSTEM=="hidraw", {ids}, ENV{{CLASSROOMD_KIND}}="{kind}"']
    lines += ["", "# --- microscopes: UVC capture nodes ------------------------------------------------------------"]
    for rule in catalog.rules:
        if rule.kind == "microscope":
            parts = ['SUBSYSTEM=="video4linux"']
            if rule.vid is not None:
                parts.append(_ids(rule))
            if rule.name:
                parts.append(f'ATTR{{name}}=="{_ci_glob(rule.name)}"')
            lines += [_comment(rule), ", ".join([*parts, 'ENV{CLASSROOMD_KIND}="microscope"'])]
    lines += [
        "",
        "# --- what every classroom device gets -------------------------------------------------------",
        'ENV{CLASSROOMD_KIND}!="?*", GOTO="classroomd_end"',
        f'GROUP="{group}", MODE="0660"',
        'SUBSYSTEM=="tty", ENV{ID_MM_DEVICE_IGNORE}="1"',
        "# hidraw nodes get no USB or path properties from the stock rules; the names below need them.",
        'ENV{ID_VENDOR_ID}!="?*", IMPORT{builtin}="usb_id"',
        'ENV{ID_PATH_TAG}!="?*", IMPORT{builtin}="path_id"',
        '# By serial number when the device has one, else by the USB port it is plugged into.',
        'ENV{ID_SERIAL_SHORT}=="?*", ENV{CLASSROOMD_NAME}="$env{CLASSROOMD_KIND}-$env{ID_VENDOR_ID}-'
        '$env{ID_MODEL_ID}-$env{ID_SERIAL_SHORT}"',
        'ENV{ID_SERIAL_SHORT}!="?*", ENV{ID_PATH_TAG}=="?*", ENV{CLASSROOMD_NAME}="$env{CLASSROOMD_KIND}-'
        '$env{ID_VENDOR_ID}-$env{ID_MODEL_ID}-$env{ID_PATH_TAG}"',
        'ENV{CLASSROOMD_NAME}=="?*", SUBSYSTEM=="tty", SYMLINK+="classroom/$env{CLASSROOMD_NAME}"',
        'ENV{CLASSROOMD_NAME}=="?*", SUBSYSTEM=="video4linux", '
        'SYMLINK+="classroom/$env{CLASSROOMD_NAME}-video$attr{index}"',
        'ENV{CLASSROOMD_NAME}=="?*", SUBSYSTEM=="input", SYMLINK+="classroom/$env{CLASSROOMD_NAME}-$kernel"',
        'ENV{CLASSROOMD_NAME}=="?*", SUBSYSTEM=="hidraw", SYMLINK+="classroom/$env{CLASSROOMD_NAME}-$kernel"',
        f'TAG+="systemd", ENV{{SYSTEMD_WANTS}}+="{SERVICE}"',
        "",
        'LABEL="classroomd_end"',
        "",
    ]
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    udev = sub.add_parser("udev", help="udev rules for classroom devices")
    udev_sub = udev.add_subparsers(dest="udev_command", required=True)
    install = udev_sub.add_parser("install", help="install the udev rules and reload udev")
    install.add_argument("--dest", default=DEFAULT_DEST, help=f"rules directory (default {DEFAULT_DEST})")
    install.add_argument("--group", default=DEFAULT_GROUP,
                         help=f"the daemon's group that gets access (default {DEFAULT_GROUP})")
    install.add_argument("--catalog", help="a device catalog to use instead of the packaged one")
    install.add_argument("--dry-run", action="store_true", help="print the rules and commands, change nothing")
    install.add_argument("--no-reload", action="store_true", help="write the file but do not run udevadm")
    install.set_defaults(func=cmd_install)


def reload_commands() -> list[list[str]]:
    return [
        ["udevadm", "control", "--reload-rules"],
        ["udevadm", "trigger", "--action=add", "--subsystem-match=tty", "--subsystem-match=input",
         "--subsystem-match=hidraw", "--subsystem-match=video4linux"],
    ]


def cmd_install(args: argparse.Namespace) -> int:
    text = render_rules(Catalog.load(args.catalog), args.group)
    target = Path(args.dest) / RULES_NAME
    if args.dry_run:
        print(f"# would write {target}:")
        print(text)
        for cmd in ([] if args.no_reload else reload_commands()):
            print("# would run: " + " ".join(cmd))
        return 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except PermissionError:
        print(f"classroomd: cannot write {target}: permission denied; run it as root "
              "(sudo classroomd udev install)", file=sys.stderr)
        return 1
    print(f"wrote {target}")
    if args.no_reload:
        return 0
    if shutil.which("udevadm") is None:
        print("udevadm not found: reload udev yourself (or reboot) for the rules to apply", file=sys.stderr)
        return 1
    for cmd in reload_commands():
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"classroomd: {' '.join(cmd)} failed: {proc.stderr.strip()}", file=sys.stderr)
            return 1
    print("udev rules reloaded; plugged-in devices were re-triggered")
    return 0
