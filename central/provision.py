"""Broker credentials and confinement for classrooms: a Mosquitto password file and ACL.

A classroom may write only under its own `classroom/{site}/{room}/#` and read only its own
requests; central reads everything and may publish requests. The ACL is written whole from
the list of provisioned classrooms, so it never drifts from that list.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CENTRAL_USER = "central"
# Mosquitto's password file separates user and hash with ':', and its ACL file splits on
# white space; '/' joins site and room in the user name, so none of these may appear in them.
SEGMENT = re.compile(r"^[^\s:/#+]{1,128}$")


class ProvisionError(Exception):
    pass


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str


def classroom_user(site: str, room: str) -> str:
    return f"{site}/{room}"


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


class BrokerAuth:
    """The files in `directory`: `passwords` (mosquitto_passwd), `acl`, `classrooms.json`."""

    def __init__(self, directory: Path, base_topic: str = "classroom") -> None:
        self.directory = directory
        self.base_topic = base_topic
        self.password_file = directory / "passwords"
        self.acl_file = directory / "acl"
        self.registry = directory / "classrooms.json"

    def _classrooms(self) -> list[tuple[str, str]]:
        try:
            return [(str(s), str(r)) for s, r in json.loads(self.registry.read_text(encoding="utf-8"))]
        except FileNotFoundError:
            return []

    def _set_password(self, username: str, password: str) -> None:
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        if not Path(tool).exists():
            raise ProvisionError("mosquitto_passwd not found: apt-get install mosquitto")
        if not self.password_file.exists():
            _write_private(self.password_file, "")
        done = subprocess.run([tool, "-b", str(self.password_file), username, password],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ProvisionError(f"mosquitto_passwd: {done.stderr.strip() or done.stdout.strip()}")

    def _write_acl(self, classrooms: list[tuple[str, str]]) -> None:
        base = self.base_topic
        lines = ["# Written by `classroomd central provision`; edits are overwritten.",
                 f"user {CENTRAL_USER}", f"topic readwrite {base}/#", ""]
        for site, room in classrooms:
            root = f"{base}/{site}/{room}"
            lines += [f"user {classroom_user(site, room)}", f"topic write {root}/#",
                      f"topic read {root}/+/request/+", ""]
        _write_private(self.acl_file, "\n".join(lines))

    def central(self) -> Credentials:
        """Central's own account, made on first use; its password is kept in the directory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        secret = self.directory / "central.password"
        if secret.exists():
            return Credentials(CENTRAL_USER, secret.read_text(encoding="utf-8").strip())
        password = secrets.token_urlsafe(18)
        self._set_password(CENTRAL_USER, password)
        _write_private(secret, password + "\n")
        self._write_acl(self._classrooms())
        return Credentials(CENTRAL_USER, password)

    def provision(self, site: str, room: str) -> Credentials:
        """A new password for the classroom (provisioning again rotates it)."""
        for name, value in (("site", site), ("room", room)):
            if not SEGMENT.match(value):
                raise ProvisionError(f"{name} {value!r}: no spaces, ':', '/', '#' or '+' (1 to 128 characters)")
        self.central()
        classrooms = self._classrooms()
        if (site, room) not in classrooms:
            classrooms.append((site, room))
            _write_private(self.registry, json.dumps(classrooms, ensure_ascii=False, indent=1) + "\n")
        password = secrets.token_urlsafe(18)
        self._set_password(classroom_user(site, room), password)
        self._write_acl(classrooms)
        return Credentials(classroom_user(site, room), password)

    def mosquitto_conf(self) -> str:
        return (f"allow_anonymous false\npassword_file {self.password_file}\nacl_file {self.acl_file}\n")


def config_stanza(site: str, room: str, broker: str, creds: Credentials, base_topic: str = "classroom") -> str:
    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    return (f"site = {q(site)}\nroom = {q(room)}\n\n[mqtt]\nurl = {q(broker)}\nbase_topic = {q(base_topic)}\n"
            f"username = {q(creds.username)}\npassword = {q(creds.password)}\n")
