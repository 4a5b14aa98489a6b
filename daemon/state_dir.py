"""Small things the daemon keeps on disk: the session counter and the HTTP token."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class StateDirError(Exception):
    pass


def prepare(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".writable"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise StateDirError(
            f"state_dir {path} is not writable ({exc.strerror}); set [agent] state_dir in the config "
            "to a folder the daemon's user owns"
        ) from None
    return path


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def next_session(state_dir: Path) -> int:
    """Increment and return the session number; it survives restarts and crashes."""
    path = state_dir / "session"
    try:
        previous = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        previous = 0
    session = previous + 1
    _write_atomic(path, f"{session}\n")
    return session


def token(state_dir: Path) -> str:
    """The bearer token of the HTTP API, generated on first start, readable by the owner only."""
    path = state_dir / "token"
    try:
        value = path.read_text().strip()
        if value:
            return value
    except OSError:
        pass
    value = secrets.token_urlsafe(24)
    _write_atomic(path, value + "\n", mode=0o600)
    return value
