"""Config errors name the file, the line and the key, and say what was expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from classroomd.config.loader import ConfigError
from classroomd.daemon.config_file import load as load_config
from classroomd.daemon.config_file import parse as parse_config

PACKAGE_CONFIGS = Path(__file__).resolve().parents[2] / "config"

GOOD = '''site = "kz-kyzylorda-095"
room = "biology"

[mqtt]
url = "mqtt://127.0.0.1:1883"

[agent]
state_dir = "/tmp/classroomd"
'''


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ('site = "a/b"\n', 1, "site", "without '/'"),
        ('[mqtt]\nurl = "http://broker:1883"\n', 2, "mqtt.url", "mqtt://HOST:PORT"),
        ('[mqtt]\nurl = ["mqtt://a:1883", "tcp://b"]\n', 2, "mqtt.url", "'tcp://b' is not a broker URL"),
        ('[mqtt]\nurl = []\n', 2, "mqtt.url", "at least one broker URL"),
        ('[mqtt]\nbase_topic = "classroom/#"\n', 2, "mqtt.base_topic", "without wildcards"),
        ('[mqtt]\nkeepalive_s = 1\n', 2, "mqtt.keepalive_s", "greater than or equal to 5"),
        ('[agent]\nhealth_interval_s = "often"\n', 2, "agent.health_interval_s", "valid number"),
        ('[agent]\nlanguage = "de"\n', 2, "agent.language", "'kk', 'ru' or 'en'"),
        ('[agnet]\nstate_dir = "/x"\n', 1, "agnet", "unknown key"),
        ('[http]\nlisten = "8080"\n', 2, "http.listen", "is not HOST:PORT"),
        ('[[devices]]\nid = "Printer 1"\nkind = "printer"\n', 2, "devices[0].id", "lowercase"),
        ('[[devices]]\nid = "agent"\nkind = "panel"\n', 2, "devices[0].id", "reserved"),
        ('[[devices]]\nid = "x"\nkind = "toaster"\n', 3, "devices[0].kind", "'panel'"),
        ('[[devices]]\nkind = "panel"\n', 1, "devices[0].id", "required key is missing"),
        ('[[devices]]\nid = "p"\nkind = "printer"\n\n[[devices]]\nid = "p"\nkind = "panel"\n', 6,
         "devices[1].id", "already used by devices[0]"),
        ('[[devices]]\nid = "a"\nkind = "printer"\n[[devices]]\nid = "b"\nkind = "printer"\nbaud = -5\n', 7,
         "devices[1].baud", "greater than 0"),
        ('[[devices]]\nid = "a"\nkind = "printer"\n[devices.match]\nvid = "zz"\n', 5,
         "devices[0].match.vid", "hexadecimal USB id"),
        ('[[devices]]\nid = "a"\nkind = "printer"\nmatch = { pid = "xyz" }\n', 4,
         "devices[0].match.pid", "hexadecimal"),
        ('site = "x"\nroom = \n', 2, "", "not valid TOML"),
    ],
)
def test_bad_config_messages(tmp_path: Path, text: str, line: int, key: str, says: str) -> None:
    path = tmp_path / "classroomd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    issue = caught.value.issues[0]
    assert issue.file == str(path)
    assert issue.line == line, str(caught.value)
    assert issue.key == key, str(caught.value)
    assert says in issue.message, str(caught.value)
    assert str(issue).startswith(f"{path}:{line}: ")


def test_all_issues_are_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('site = "a/b"\nroom = "c/d"\n[http]\nlisten = "nope"\n', "f.toml")
    assert [(i.line, i.key) for i in caught.value.issues] == [(1, "site"), (2, "room"), (4, "http.listen")]


def test_good_config_and_defaults() -> None:
    config = parse_config(GOOD)
    assert config.mqtt.urls == ["mqtt://127.0.0.1:1883"]
    assert config.mqtt.base_topic == "classroom"
    assert config.agent.health_interval_s == 30
    assert config.devices == []


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.toml")
    assert "missing.toml" in str(caught.value) and "cannot read" in str(caught.value)


def test_demo_defaults_fill_what_the_file_leaves_out(tmp_path: Path) -> None:
    from classroomd.daemon.demo import demo_defaults

    path = tmp_path / "c.toml"
    path.write_text('room = "chemistry"\n[http]\nlisten = "127.0.0.1:9999"\n')
    config = load_config(path, demo_defaults())
    assert config.room == "chemistry" and config.site == "demo-school"
    assert config.http.listen == "127.0.0.1:9999"
    assert config.mqtt.urls == ["embedded://127.0.0.1:1883"]


@pytest.mark.parametrize("name", ["classroom.example.toml", "demo.toml"])
def test_shipped_examples_are_valid(name: str) -> None:
    result = subprocess.run([sys.executable, "-m", "classroomd", "config", "check", str(PACKAGE_CONFIGS / name)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_config_check_cli_reports_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('site = "s"\n\n[[devices]]\nid = "printer-1"\nkind = "printer"\nbaud = "fast"\n')
    result = subprocess.run([sys.executable, "-m", "classroomd", "config", "check", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{path}:6: devices[0].baud:" in result.stderr
    assert "'fast'" in result.stderr
