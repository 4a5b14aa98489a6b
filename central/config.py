"""The `[central]` section of a classroomd TOML file: everything central needs, with defaults
that run on a fresh machine (SQLite under the state directory, a broker on localhost)."""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from classroomd.config.central_section import CentralConfig

__all__ = ["CentralConfig", "CentralConfigError", "client_id", "load", "section_issues"]


class CentralConfigError(Exception):
    pass


def section_issues(data: dict[str, Any], text: str, file: str) -> list[str]:
    """Errors of the `[central]` section of a parsed file, each naming file, line and key."""
    from classroomd.config.loader import issues_from_validation, key_lines

    try:
        CentralConfig.model_validate(data.get("central", {}))
    except ValidationError as exc:
        return [str(i) for i in issues_from_validation(exc, key_lines(text), file, ("central",))]
    return []


def load(path: str | Path | None, overrides: dict[str, Any] | None = None) -> CentralConfig:
    """The `[central]` section of a file (other sections are the agent's and ignored here)."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
            parsed = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise CentralConfigError(f"{path}: {exc}") from None
        issues = section_issues(parsed, text, str(path))
        if issues:
            raise CentralConfigError("\n".join(issues))
        data = dict(parsed.get("central", {}))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return CentralConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise CentralConfigError("\n".join(lines)) from None


def client_id(cfg: CentralConfig) -> str:
    """The MQTT client id central's connections are named after (each lane adds a suffix).

    The broker keeps central's session under this id while central is down (what it received but
    had not committed is redelivered from there), so it must be the same after a restart: the
    configured `client_id`, else `central-HOST`. Two central processes on one host need a
    `client_id` each, or they take over each other's session in turn.
    """
    return cfg.client_id or f"central-{socket.gethostname()}"
