"""`classroomd doctor` on planted problems: each is found, explained in kk/ru/en, and given its fix."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from classroomd.bus.outbox import Outbox
from classroomd.config.schema import Config
from classroomd.core.vocabulary import Priority
from classroomd.daemon import config_file, udev_install
from classroomd.daemon.catalog import Catalog
from classroomd.daemon.cli import main
from classroomd.daemon.doctor import Machine, run_checks


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def write_config(tmp_path: Path, listen: str = "127.0.0.1:8080") -> Path:
    path = tmp_path / "classroomd.toml"
    path.write_text(f"""site = "kz-test-01"
room = "biology"

[mqtt]
url = "mqtt://127.0.0.1:{closed_port()}"

[agent]
state_dir = "{tmp_path / 'state'}"

[http]
listen = "{listen}"

[[devices]]
id = "panel-1"
kind = "panel"
host = "192.0.2.10"
""")
    return path


def test_the_planted_problems_are_found_with_their_fixes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    rules = tmp_path / "rules.d"
    rules.mkdir()
    code = main(["doctor", "--config", str(config), "--udev-dir", str(rules), "--min-free-percent", "100.1",
                 "--lang", "en"])
    out = capsys.readouterr().out
    assert code == 1
    assert "the MQTT broker is unreachable: mqtt://127.0.0.1:" in out
    assert "the udev rules are not installed" in out and "Fix: sudo classroomd udev install" in out
    assert "nearly full" in out and f"du -sh {tmp_path / 'state'}/*" in out
    assert "HTTP listens only on 127.0.0.1:8080 while a panel is configured (panel-1)" in out
    assert f"""sudo sed -i 's/^listen *= *"127\\.0\\.0\\.1:/listen = "0.0.0.0:/' {config}""" in out

    assert main(["doctor", "--config", str(config), "--udev-dir", str(rules), "--json"]) == 1
    findings = {f["check"]: f for f in json.loads(capsys.readouterr().out)["findings"]}
    assert {"broker", "udev_missing", "http_local"} <= set(findings)
    assert "disk" not in findings  # the default threshold: this disk is not full
    for finding in findings.values():
        assert set(finding["message"]) == {"kk", "ru", "en"} and all(finding["message"].values())
        assert set(finding["why"]) == {"kk", "ru", "en"} and finding["fix"]

    main(["doctor", "--config", str(config), "--udev-dir", str(rules), "--lang", "kk"])
    kazakh = capsys.readouterr().out
    assert "MQTT брокері қолжетімсіз" in kazakh and "Түзету: sudo classroomd udev install" in kazakh


def test_stale_rules_and_a_clean_machine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.d"
    rules.mkdir()
    (rules / udev_install.RULES_NAME).write_text("# an old version\n")
    config = Config.model_validate({"mqtt": {"url": "embedded://127.0.0.1:1883"},
                                    "agent": {"state_dir": str(tmp_path / "state")}})
    machine = Machine(user="root", udev_dir=rules, proc=tmp_path / "proc", which=lambda _n: None)
    assert [f.check for f in run_checks(config, machine)] == ["udev_stale"]
    (rules / udev_install.RULES_NAME).write_text(udev_install.render_rules(Catalog.load()))
    assert run_checks(config, machine) == []


def test_groups_and_serial_grabbers(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "412").mkdir(parents=True)
    (proc / "412" / "comm").write_text("ModemManager\n")
    config = Config.model_validate({"mqtt": {"url": "embedded://127.0.0.1:1883"},
                                    "agent": {"state_dir": str(tmp_path)}})
    rules = tmp_path / "rules.d"
    rules.mkdir()
    (rules / udev_install.RULES_NAME).write_text(udev_install.render_rules(Catalog.load()))
    machine = Machine(user="nobody", udev_dir=rules, proc=proc,
                      which=lambda name: "/usr/bin/brltty" if name == "brltty" else None)
    found = {f.check: f for f in run_checks(config, machine)}
    assert set(found) == {"groups", "brltty", "modemmanager"}
    # Groups this machine does not have (no `input` in a container) cannot be joined and are not asked for.
    assert found["groups"].fix.startswith("sudo usermod -aG dialout,video")
    assert " nobody && sudo systemctl restart classroomd" in found["groups"].fix
    assert found["brltty"].fix == "sudo apt-get remove brltty"
    assert "CH340" in found["brltty"].why.ru
    assert found["modemmanager"].fix == "sudo systemctl disable --now ModemManager"


def test_a_growing_outbox(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    outbox = Outbox(state / "outbox.sqlite3")
    for i in range(12):
        outbox.put(f"classroom/s/r/printer-1/event/progress/{i}", b"{}", priority=Priority.EVENT)
    outbox.close()
    config = Config.model_validate({"mqtt": {"url": "embedded://127.0.0.1:1883"}, "agent": {"state_dir": str(state)}})
    rules = tmp_path / "rules.d"
    rules.mkdir()
    (rules / udev_install.RULES_NAME).write_text(udev_install.render_rules(Catalog.load()))
    machine = Machine(user="root", udev_dir=rules, proc=tmp_path / "proc", which=lambda _n: None, outbox_warn=10)
    found = run_checks(config, machine)
    assert [f.check for f in found] == ["outbox"]
    assert found[0].message.en == "12 messages are waiting in the outbox"


@pytest.mark.parametrize("listen, check", [("127.0.0.1:8080", "http_local"), ("0.0.0.0:8080", "no_pin")])
def test_the_printed_config_fix_works(tmp_path: Path, listen: str, check: str) -> None:
    config = write_config(tmp_path, listen)
    rules = tmp_path / "rules.d"
    machine = Machine(user="root", udev_dir=rules, proc=tmp_path / "proc", which=lambda _n: None,
                      config_file=config)
    found = {f.check: f for f in run_checks(config_file.load(config), machine)}
    assert check in found
    # The command as printed, minus sudo (the test owns the file) and the restart (no service here).
    command = found[check].fix.replace("sudo ", "").split(" && systemctl restart")[0]
    subprocess.run(["sh", "-c", command], check=True)
    fixed = config_file.load(config)  # still a valid config, with every rule applied
    assert check not in {f.check for f in run_checks(fixed, machine)}
