"""Small things the daemon keeps on disk: the session counter and the HTTP token."""

from __future__ import annotations

from pathlib import Path

from classroomd.core.state_files import token, write_atomic

__all__ = ["StateDirError", "next_session", "prepare", "token"]


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


def next_session(state_dir: Path) -> int:
    """Increment and return the session number; it survives restarts and crashes."""
    path = state_dir / "session"
    try:
        previous = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        previous = 0
    session = previous + 1
    write_atomic(path, f"{session}\n")
    return session
