"""Small files in a state directory, written so that a crash or power cut never leaves half of one."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def token(state_dir: Path) -> str:
    """A bearer token for an HTTP API, generated on first use, readable by the owner only."""
    path = state_dir / "token"
    try:
        value = path.read_text().strip()
        if value:
            return value
    except OSError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    write_atomic(path, value + "\n", mode=0o600)
    return value
