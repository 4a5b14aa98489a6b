"""The bearer token for the API's writes, kept in the state directory (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_or_create(state_dir: Path) -> str:
    path = state_dir / "token"
    try:
        value = path.read_text().strip()
        if value:
            return value
    except OSError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    tmp = path.with_name("token.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    tmp.replace(path)
    return value
