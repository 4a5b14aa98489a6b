"""Files uploaded over HTTP (G-code for the printers), kept in `state_dir/uploads`.

Each upload gets a folder named by a random id; the file inside keeps a
sanitised version of the name it was sent with, and `meta.json` records size,
sha256 and time. Nothing a client sends ever becomes a path: ids are checked
against their pattern and names are reduced to one safe file name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classroomd.core.timestamps import now_iso
from classroomd.core.vocabulary import CodedError

ID_RE = re.compile(r"^[0-9a-f]{20}$")
MAX_NAME = 120


class UploadError(CodedError):
    pass


@dataclass
class UploadedFile:
    id: str
    name: str
    size: int
    sha256: str
    path: Path
    created: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "size": self.size, "sha256": self.sha256,
                "created": self.created}


def sanitize_name(name: str) -> str:
    """One safe file name: no folders, no leading dots, letters of any script kept."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    cleaned = "".join(c if (c.isalnum() or c in "._-") else "_" for c in name)
    cleaned = cleaned.lstrip(".").strip("_ ") or "upload.gcode"
    if len(cleaned) > MAX_NAME:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 10 else cleaned[:MAX_NAME]
    return cleaned


class UploadStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    async def save_stream(self, name: str, chunks: AsyncIterator[bytes], max_bytes: int) -> UploadedFile:
        """Stream to disk, hashing on the way; refuse (and delete) anything over `max_bytes`."""
        safe = sanitize_name(name)
        file_id = secrets.token_hex(10)
        folder = self.root / file_id
        folder.mkdir()
        partial = folder / ".partial"
        digest = hashlib.sha256()
        size = 0
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadError("too_large", f"the file is larger than the limit of {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            final = folder / safe
            partial.replace(final)
            item = UploadedFile(file_id, safe, size, digest.hexdigest(), final,
                                now_iso())
            meta = folder / "meta.json"
            meta.write_text(json.dumps(item.as_dict(), ensure_ascii=False))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return item

    def get(self, file_id: str) -> UploadedFile | None:
        if not ID_RE.match(file_id):
            return None
        folder = self.root / file_id
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        name = str(meta.get("name", ""))
        if sanitize_name(name) != name:
            return None
        path = folder / name
        if not path.is_file() or path.resolve().parent != folder.resolve():
            return None
        return UploadedFile(file_id, name, int(meta["size"]), str(meta["sha256"]), path, str(meta["created"]))

    def list(self) -> list[UploadedFile]:
        found = []
        with contextlib.suppress(OSError):
            for entry in self.root.iterdir():
                item = self.get(entry.name)
                if item is not None:
                    found.append(item)
        return sorted(found, key=lambda f: (f.created, f.id))
