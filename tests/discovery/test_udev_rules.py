"""The udev rules: they parse, they are what the catalog says, and they cover every printer and bridge."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from classroomd.daemon.catalog import Catalog
from classroomd.daemon.udev_install import RULES_NAME, render_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "udev" / RULES_NAME
KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "ATTR", "ATTRS", "ENV", "GROUP", "MODE", "SYMLINK", "TAG", "GOTO",
        "LABEL", "IMPORT"}
PAIR = re.compile(r'\s*(?P<key>[A-Z_]+)(?:\{(?P<arg>[^}]*)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"\s*')
MATCH_OPS, ASSIGN_OPS = {"==", "!="}, {"=", "+=", ":=", "-="}

Rule = list[tuple[str, str | None, str, str]]


def parse(text: str) -> list[Rule]:
    """A strict reading of udev's rule syntax: comma-separated KEY{arg}OP"value" pairs, one rule a line."""
    rules: list[Rule] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs: Rule = []
        pos = 0
        while pos < len(line):
            m = PAIR.match(line, pos)
            assert m is not None, f"line {number}: cannot parse {line[pos:]!r}"
            key, op = m["key"], m["op"]
            assert key in KEYS, f"line {number}: unknown key {key}"
            if key in ("ATTR", "ATTRS", "ENV", "IMPORT"):
                assert m["arg"], f"line {number}: {key} needs {{…}}"
            if key in ("GROUP", "MODE", "SYMLINK", "TAG", "GOTO", "LABEL", "IMPORT"):
                assert op in ASSIGN_OPS, f"line {number}: {key} is assigned, not compared"
            pairs.append((key, m["arg"], op, m["value"]))
            pos = m.end()
            if pos < len(line):
                assert line[pos] == ",", f"line {number}: expected ',' at {line[pos:]!r}"
                pos += 1
        assert any(op in ASSIGN_OPS for _, _, op, _ in pairs), f"line {number}: a rule that assigns nothing"
        rules.append(pairs)
    return rules


@pytest.fixture(scope="module")
def rules() -> list[Rule]:
    return parse(RULES.read_text())


def test_rules_file_is_what_the_catalog_generates() -> None:
    assert RULES.read_text() == render_rules(Catalog.load()), (
        "udev/70-classroomd.rules is stale: regenerate it with "
        "`classroomd udev install --dest udev --no-reload`")


def test_rules_parse_and_every_goto_has_its_label(rules: list[Rule]) -> None:
    gotos = {v for rule in rules for k, _, _, v in rule if k == "GOTO"}
    labels = {v for rule in rules for k, _, _, v in rule if k == "LABEL"}
    assert gotos == labels == {"classroomd_end"}
    assert rules[-1] == [("LABEL", None, "=", "classroomd_end")]


def test_every_catalog_printer_and_bridge_is_covered(rules: list[Rule]) -> None:
    catalog = Catalog.load()
    assert catalog.serial_rules(), "the catalog lists no serial devices"
    for entry in catalog.serial_rules():
        assert entry.vid is not None
        wanted = {("SUBSYSTEM", None, "==", "tty"), ("ATTRS", "idVendor", "==", f"{entry.vid:04x}")}
        if entry.pid is not None:
            wanted.add(("ATTRS", "idProduct", "==", f"{entry.pid:04x}"))
        kind = "printer" if entry.kind == "printer" else "serial"
        covering = [r for r in rules if wanted <= set(r) and ("ENV", "CLASSROOMD_KIND", "=", kind) in r]
        assert covering, f"catalog rule {entry.id!r} has no udev rule"
    # Every tagged serial port is kept from ModemManager and given to the daemon's group.
    assert [("SUBSYSTEM", None, "==", "tty"), ("ENV", "ID_MM_DEVICE_IGNORE", "=", "1")] in rules
    assert [("GROUP", None, "=", "classroomd"), ("MODE", None, "=", "0660")] in rules
    assert not any(k == "TAG" and v == "uaccess" for rule in rules for k, _, _, v in rule)
    assert [("TAG", None, "+=", "systemd"), ("ENV", "SYSTEMD_WANTS", "+=", "classroomd.service")] in rules
    symlinks = [v for rule in rules for k, _, _, v in rule if k == "SYMLINK"]
    assert symlinks and all(v.startswith("classroom/") for v in symlinks)


def test_install_writes_the_rules_with_the_chosen_group(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "classroomd", "udev", "install", "--dest", str(tmp_path),
                           "--group", "school", "--no-reload"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    written = (tmp_path / RULES_NAME).read_text()
    assert 'GROUP="school", MODE="0660"' in written
    parse(written)


def test_install_dry_run_changes_nothing(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "classroomd", "udev", "install", "--dest", str(tmp_path / "d"),
                           "--dry-run"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "# would run: udevadm control --reload-rules" in proc.stdout
    assert not (tmp_path / "d").exists()
