"""`classroomd doctor`: what on this PC keeps the classroom from working, and the command that fixes it.

The same checks run on the engineer's console (`/engineer`); this module registers them, with the
config checked by every kind's own keys, through `web.engineer.use_tools`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classroomd.bus.client import BrokerUrl
from classroomd.config.loader import ConfigError, ConfigIssue
from classroomd.config.schema import Config
from classroomd.core.vocabulary import Kind, Localized
from classroomd.daemon import config_file, udev_install
from classroomd.web import engineer
from classroomd.web.context import WebContext

GROUPS = ("dialout", "video", "input")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Finding:
    check: str
    message: Localized
    why: Localized
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "message": self.message.as_dict(), "why": self.why.as_dict(), "fix": self.fix}

    def text(self, lang: str) -> str:
        message, why = getattr(self.message, lang), getattr(self.why, lang)
        fix = {"kk": "Түзету", "ru": "Исправление", "en": "Fix"}[lang]
        return f"✗ {message}\n    {why}\n    {fix}: {self.fix}"


@dataclass
class Machine:
    """Where the checks look; tests point these at planted problems."""

    user: str = field(default_factory=lambda: pwd.getpwuid(os.getuid()).pw_name)
    udev_dir: Path = Path(udev_install.DEFAULT_DEST)
    proc: Path = Path("/proc")
    which: Callable[[str], str | None] = shutil.which
    min_free_percent: float = 5.0
    connect_timeout_s: float = 2.0
    outbox_warn: int = 1000
    #: The config file the fix commands edit.
    config_file: Path = Path("/etc/classroomd/classroomd.toml")
    #: Panels the running daemon drives that the config does not list (found by discovery, the demo's).
    running_panels: list[str] = field(default_factory=list)


# --- the checks --------------------------------------------------------------------------------------
def check_groups(config: Config, m: Machine) -> list[Finding]:
    try:
        entry = pwd.getpwnam(m.user)
    except KeyError:
        return []
    if entry.pw_uid == 0:
        return []  # root opens every device node whatever its group
    missing = []
    for name in GROUPS:
        try:
            group = grp.getgrnam(name)
        except KeyError:
            continue
        if m.user not in group.gr_mem and entry.pw_gid != group.gr_gid:
            missing.append(name)
    if not missing:
        return []
    names = ", ".join(missing)
    return [Finding(
        "groups",
        Localized(f"{m.user} пайдаланушысы {names} топтарында жоқ",
                  f"Пользователь {m.user} не входит в группы {names}",
                  f"user {m.user} is not in the groups {names}"),
        Localized("Онсыз демон принтерлерді, микроскоптарды және планшеттерді аша алмайды.",
                  "Без них демон не может открыть принтеры, микроскопы и планшеты.",
                  "Without them the daemon cannot open printers, microscopes and tablets."),
        f"sudo usermod -aG {','.join(missing)} {m.user} && sudo systemctl restart classroomd")]


def check_udev(config: Config, m: Machine) -> list[Finding]:
    path = m.udev_dir / udev_install.RULES_NAME
    try:
        installed = path.read_text(encoding="utf-8")
    except OSError:
        return [Finding(
            "udev_missing",
            Localized(f"udev ережелері орнатылмаған ({path})", f"Правила udev не установлены ({path})",
                      f"the udev rules are not installed ({path})"),
            Localized("Құрылғыларға рұқсат берілмейді, ModemManager принтерлерге AT командаларын жібереді.",
                      "Устройства не получат прав доступа, ModemManager будет слать AT-команды принтерам.",
                      "Devices get no access rights and ModemManager sends AT commands into printers."),
            "sudo classroomd udev install")]
    from classroomd.daemon.catalog import Catalog

    group = re.search(r'GROUP="([^"]+)"', installed)
    expected = udev_install.render_rules(Catalog.load(), group.group(1) if group else udev_install.DEFAULT_GROUP)
    if installed == expected:
        return []
    return [Finding(
        "udev_stale",
        Localized(f"udev ережелері ескірген ({path})", f"Правила udev устарели ({path})",
                  f"the udev rules are out of date ({path})"),
        Localized("Жаңа құрылғылар танылмауы мүмкін.", "Новые устройства могут не распознаваться.",
                  "Newer devices in the catalog may not be recognised."),
        "sudo classroomd udev install")]


def _running(m: Machine, name: str) -> bool:
    try:
        entries = list(m.proc.iterdir())
    except OSError:
        return False
    for entry in entries:
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    return True
            except OSError:
                continue
    return False


def check_serial_grabbers(config: Config, m: Machine) -> list[Finding]:
    found = []
    if m.which("brltty") is not None or _running(m, "brltty"):
        found.append(Finding(
            "brltty",
            Localized("brltty орнатылған", "Установлен brltty", "brltty is installed"),
            Localized("brltty CH340/CH341 USB-сериялық адаптерлерді басып алады: принтер мен глобус ашылмайды.",
                      "brltty захватывает USB-serial адаптеры CH340/CH341: принтер и глобус не открываются.",
                      "brltty grabs CH340/CH341 USB-serial bridges: printers and globes cannot be opened."),
            "sudo apt-get remove brltty"))
    if _running(m, "ModemManager"):
        found.append(Finding(
            "modemmanager",
            Localized("ModemManager іске қосылған", "Запущен ModemManager", "ModemManager is running"),
            Localized("Ол сериялық порттарды тексеріп, принтерге AT командаларын жібере алады.",
                      "Он опрашивает последовательные порты и может слать AT-команды принтеру.",
                      "It probes serial ports and can send AT commands into a printer."),
            "sudo systemctl disable --now ModemManager"))
    return found


def check_ports(config: Config, m: Machine) -> list[Finding]:
    found = []
    for device in config.devices:
        if not device.enabled or not device.port or not os.path.exists(device.port):
            continue
        if not os.access(device.port, os.R_OK | os.W_OK):
            found.append(Finding(
                "port_access",
                Localized(f"{device.id}: {device.port} портына рұқсат жоқ",
                          f"{device.id}: нет доступа к порту {device.port}",
                          f"{device.id}: no permission on {device.port}"),
                Localized("Демон бұл құрылғыны аша алмайды.", "Демон не может открыть это устройство.",
                          "The daemon cannot open this device."),
                f"sudo usermod -aG dialout {m.user} && sudo classroomd udev install"))
    return found


def _reachable(url: BrokerUrl, timeout: float) -> str | None:
    try:
        with socket.create_connection((url.host, url.port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def check_broker(config: Config, m: Machine) -> list[Finding]:
    found = []
    for text in config.mqtt.urls:
        url = BrokerUrl.parse(text)
        if url.scheme == "embedded":
            continue  # the daemon starts that one itself
        problem = _reachable(url, m.connect_timeout_s)
        if problem is None:
            return []  # one broker that answers is enough: the others are fail-over
        found.append(Finding(
            "broker",
            Localized(f"MQTT брокері қолжетімсіз: {text} ({problem})",
                      f"MQTT-брокер недоступен: {text} ({problem})",
                      f"the MQTT broker is unreachable: {text} ({problem})"),
            Localized("Оқиғалар кезекте жиналады; аудан сыныпты көрмейді. Брокер басқа компьютерде болса, "
                      "оның мекенжайын [mqtt] url ішінде тексеріңіз.",
                      "События копятся в очереди; район не видит класс. Если брокер на другом компьютере, "
                      "проверьте его адрес в [mqtt] url.",
                      "Events pile up in the outbox and the district cannot see the classroom. If the broker "
                      "runs on another computer, check its address in [mqtt] url."),
            "sudo apt-get install -y mosquitto && sudo systemctl enable --now mosquitto"))
    return found


def check_disk(config: Config, m: Machine) -> list[Finding]:
    path = Path(config.agent.state_dir)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return []
    free = 100.0 * usage.free / usage.total if usage.total else 100.0
    if free >= m.min_free_percent:
        return []
    return [Finding(
        "disk",
        Localized(f"{path} дискінде орын аз: {free:.1f}% бос", f"Мало места на диске {path}: свободно {free:.1f}%",
                  f"the disk of {path} is nearly full: {free:.1f}% free"),
        Localized("Суреттер мен кезек сақталмай қалуы мүмкін. Ең үлкен қалталарды тауып, ескі суреттер "
                  "мен жүктемелерді өшіріңіз.",
                  "Снимки и очередь сообщений могут не сохраниться. Найдите самые большие папки и удалите "
                  "старые снимки и загрузки.",
                  "Captures and the outbox may fail to be saved. Find the largest folders and delete old "
                  "captures and uploads."),
        f"du -sh {config.agent.state_dir}/* | sort -h")]


def check_http(config: Config, m: Machine) -> list[Finding]:
    host = config.http.listen.rpartition(":")[0]
    panels = sorted({d.id for d in config.devices if d.kind == Kind.PANEL and d.enabled} | set(m.running_panels))
    if host not in LOCAL_HOSTS or not panels:
        return []
    return [Finding(
        "http_local",
        Localized(f"HTTP тек {config.http.listen} мекенжайында, ал панель бар ({', '.join(panels)})",
                  f"HTTP слушает только {config.http.listen}, а панель настроена ({', '.join(panels)})",
                  f"HTTP listens only on {config.http.listen} while a panel is configured ({', '.join(panels)})"),
        Localized("Панельдің браузері сабақ тақтасын аша алмайды.", "Браузер панели не сможет открыть доску урока.",
                  "The panel's browser cannot reach the lesson board."),
        f"{_listen_fix(m.config_file, host)} && sudo systemctl restart classroomd")]


def check_pin(config: Config, m: Machine) -> list[Finding]:
    host = config.http.listen.rpartition(":")[0]
    if host in LOCAL_HOSTS or config.http.pin:
        return []
    return [Finding(
        "no_pin",
        Localized(f"HTTP {config.http.listen} мекенжайында ашық, бірақ сынып PIN-коды орнатылмаған",
                  f"HTTP открыт на {config.http.listen}, но PIN-код класса не задан",
                  f"HTTP is open on {config.http.listen} but no classroom PIN is set"),
        Localized("Сынып желісіндегі кез келген телефон панельді, принтерді және сабақты басқара алады.",
                  "Любой телефон в сети класса может управлять панелью, принтером и уроком.",
                  "Any phone on the classroom network can drive the panel, the printer and the lesson."),
        # A fresh PIN in the command itself: a suggested "1234" would end up in every school.
        f"{_http_key_fix(m.config_file, 'pin', f'{secrets.randbelow(10000):04d}')}"
        " && sudo systemctl restart classroomd")]


def _http_key_fix(path: Path, key: str, value: str) -> str:
    """The edit that adds `key = "value"` to the file's [http] table, as the file is written now."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    if re.search(r"^\s*\[http\]", text, re.M):
        return f"sudo sed -i '/^\\[http\\]/a {key} = \"{value}\"' {path}"
    return f"printf '\\n[http]\\n{key} = \"{value}\"\\n' | sudo tee -a {path}"


def _listen_fix(path: Path, host: str) -> str:
    """The edit that makes HTTP listen on every address, for the file as it is written now."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    if re.search(r"^\s*listen\s*=", text, re.M):
        return f"sudo sed -i 's/^listen *= *\"{re.escape(host)}:/listen = \"0.0.0.0:/' {path}"
    return _http_key_fix(path, "listen", "0.0.0.0:8080")


def check_outbox(config: Config, m: Machine) -> list[Finding]:
    """Messages waiting for the broker: a few are a blip, thousands mean nothing has left for a long time."""
    path = Path(config.agent.state_dir) / "outbox.sqlite3"
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)) as db:
            waiting = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    except sqlite3.Error:
        return []
    if waiting < m.outbox_warn:
        return []
    return [Finding(
        "outbox",
        Localized(f"Жіберілмеген {waiting} хабар кезекте тұр", f"В очереди {waiting} неотправленных сообщений",
                  f"{waiting} messages are waiting in the outbox"),
        Localized("Брокер ұзақ уақыт қолжетімсіз болған: аудан сыныптың күйін көрмейді.",
                  "Брокер долго был недоступен: район не видит состояние класса.",
                  "The broker has been out of reach for a long time: the district cannot see the classroom."),
        "journalctl -u classroomd -n 50 | grep -i mqtt")]


CHECKS = (check_groups, check_udev, check_serial_grabbers, check_ports, check_broker, check_disk, check_outbox,
          check_http, check_pin)


def run_checks(config: Config, machine: Machine | None = None) -> list[Finding]:
    m = machine or Machine()
    return [finding for check in CHECKS for finding in check(config, m)]


# --- the engineer's console ------------------------------------------------------------------------
def _config_path_from_argv(argv: list[str]) -> Path | None:
    """The file `classroomd run --config FILE` was started with: the agent keeps only the parsed config."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1]).resolve()
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1]).resolve()
    return None


@dataclass
class DaemonTools:
    config_file: Path | None = None
    machine: Machine = field(default_factory=Machine)

    def config_path(self) -> Path | None:
        return self.config_file

    def check_config(self, text: str, file: str) -> list[ConfigIssue]:
        try:
            config_file.parse(text, file)
        except ConfigError as exc:
            return exc.issues
        return []

    async def doctor(self, ctx: WebContext) -> list[dict[str, Any]]:
        config = getattr(ctx, "config", None)
        if not isinstance(config, Config):
            return []
        panels = [d.id for d in ctx.all_devices() if d.kind == Kind.PANEL]
        machine = dataclasses.replace(self.machine, running_panels=panels,
                                      config_file=self.config_file or self.machine.config_file)
        findings = await asyncio.to_thread(run_checks, config, machine)
        return [f.as_dict() for f in findings]

    def seen_not_driven(self, ctx: WebContext) -> list[dict[str, Any]]:
        discovery = getattr(getattr(ctx, "hotplug", None), "discovery", None)
        result = getattr(discovery, "last_result", None)
        return [u.describe() for u in getattr(result, "unclassified", [])]


engineer.use_tools(DaemonTools(_config_path_from_argv(sys.argv)))


# --- command line --------------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    parser = sub.add_parser("doctor", help="check this PC for what keeps devices from working; exit 1 on findings")
    parser.add_argument("--config", help="the daemon's config file")
    parser.add_argument("--lang", choices=["kk", "ru", "en"], help="language (default: [agent] language)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--user", help="the daemon's user (default: the current one)")
    parser.add_argument("--udev-dir", default=udev_install.DEFAULT_DEST, help="where the udev rules are installed")
    parser.add_argument("--min-free-percent", type=float, default=5.0,
                        help="warn when state_dir's disk has less free space than this")
    parser.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    config = config_file.load(args.config) if args.config else Config()
    machine = Machine(udev_dir=Path(args.udev_dir), min_free_percent=args.min_free_percent)
    if args.config:
        machine.config_file = Path(args.config).resolve()
    if args.user:
        machine.user = args.user
    findings = run_checks(config, machine)
    if args.json:
        print(json.dumps({"findings": [f.as_dict() for f in findings]}, ensure_ascii=False, indent=2))
        return 1 if findings else 0
    lang = args.lang or config.agent.language
    if not findings:
        print({"kk": "✓ Ақау табылмады", "ru": "✓ Проблем не найдено", "en": "✓ No problems found"}[lang])
        return 0
    for finding in findings:
        print(finding.text(lang))
    return 1
