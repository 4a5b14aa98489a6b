"""The lesson media store: captures kept as the camera's JPEG, a JSON sidecar and a thumbnail.

Layout under the root (`state_dir/media`): `{id}.jpg` (the original bytes,
never re-encoded), `{id}.thumb.jpg`, `{id}.json` (the sidecar). The sidecar is
written last and atomically, so an item exists exactly when its sidecar does;
a crash mid-save leaves at most an orphan JPEG that the next start removes.

The store has a size cap. When a save goes over it, the oldest items go first,
but never an item of the current lesson: a teacher must not lose what the
class is looking at because the disk is full of last month's lessons.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classroomd.core.timestamps import iso, now_iso

log = logging.getLogger("classroomd.media")

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{5,80}$")
DEFAULT_MAX_BYTES = 2 * 1024**3
THUMB_WIDTH = 320


@dataclass
class MediaItem:
    id: str
    #: The sidecar's contents (created, device, lesson, width, height, um_per_px, annotations …).
    meta: dict[str, Any]

    @property
    def url(self) -> str:
        return f"/media/{self.id}"

    @property
    def thumb_url(self) -> str:
        return f"/media/{self.id}/thumb"

    @property
    def json_url(self) -> str:
        return f"/media/{self.id}.json"

    @property
    def created(self) -> str:
        return str(self.meta.get("created", ""))

    @property
    def size(self) -> int:
        return int(self.meta.get("size", 0))

    def describe(self) -> dict[str, Any]:
        """The listing shape of the HTTP API."""
        return {"id": self.id, "url": self.url, "thumb_url": self.thumb_url, "json_url": self.json_url,
                **self.meta}




def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def make_thumbnail(jpeg: bytes, width: int = THUMB_WIDTH) -> bytes:
    from classroomd.drivers.v4l_capture import scaled_jpeg

    return scaled_jpeg(jpeg, width, 75)


class MediaStore:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES,
                 current_lesson: Callable[[], str | None] | None = None) -> None:
        self.root = root
        self.max_bytes = max_bytes
        #: Who knows the running lesson: its media are never evicted. Set by whoever owns the lesson.
        self.current_lesson = current_lesson
        self._lock = threading.RLock()
        self._items: dict[str, MediaItem] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        self._load()

    # --- paths ---------------------------------------------------------------------------
    def _checked(self, media_id: str) -> str:
        if not ID_RE.match(media_id):
            raise KeyError(media_id)
        return media_id

    def original_path(self, media_id: str) -> Path:
        return self.root / f"{self._checked(media_id)}.jpg"

    def thumbnail_path(self, media_id: str) -> Path:
        return self.root / f"{self._checked(media_id)}.thumb.jpg"

    def sidecar_path(self, media_id: str) -> Path:
        return self.root / f"{self._checked(media_id)}.json"

    # --- reading ---------------------------------------------------------------------------
    def _load(self) -> None:
        for sidecar in self.root.glob("*.json"):
            media_id = sidecar.stem
            if not ID_RE.match(media_id):
                continue
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, ValueError) as exc:
                log.warning("media sidecar %s is unreadable (%s); skipped", sidecar, exc)
                continue
            if (self.root / f"{media_id}.jpg").exists():
                self._items[media_id] = MediaItem(media_id, meta)
        for orphan in self.root.glob("*.jpg"):
            stem = orphan.name.removesuffix(".thumb.jpg").removesuffix(".jpg")
            if stem not in self._items:
                with contextlib.suppress(OSError):
                    orphan.unlink()
        for tmp in self.root.glob("*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    def get(self, media_id: str) -> MediaItem | None:
        with self._lock:
            return self._items.get(media_id)

    def all(self) -> list[MediaItem]:
        """Every item, oldest first."""
        with self._lock:
            return sorted(self._items.values(), key=lambda i: (i.created, i.id))

    def by_lesson(self, lesson_id: str) -> list[MediaItem]:
        return [i for i in self.all() if i.meta.get("lesson") == lesson_id]

    def by_sequence(self, sequence_id: str) -> list[MediaItem]:
        """The stills of one time-lapse, in order."""
        items = [i for i in self.all() if (i.meta.get("sequence") or {}).get("id") == sequence_id]
        return sorted(items, key=lambda i: int(i.meta["sequence"].get("index", 0)))

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(i.size for i in self._items.values())

    # --- writing ---------------------------------------------------------------------------
    def new_id(self, created: datetime) -> str:
        return f"{created:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"

    def save_capture(self, jpeg: bytes, meta: dict[str, Any]) -> MediaItem:
        """Store a capture. Blocking (it decodes for the thumbnail): call it from a thread."""
        if jpeg[:2] != b"\xff\xd8":
            raise ValueError("a capture must be a JPEG")
        created = datetime.now(UTC)
        media_id = self.new_id(created)
        thumb = make_thumbnail(jpeg)
        sidecar: dict[str, Any] = {
            "id": media_id,
            "created": iso(created),
            "device": None, "lesson": None, "teacher": None,
            "width": None, "height": None, "magnification": None, "um_per_px": None,
            "tags": [],
            **meta,
            "size": len(jpeg) + len(thumb),
            "bytes": len(jpeg),
            "annotations": list(meta.get("annotations", [])),
        }
        _write_atomic(self.original_path(media_id), jpeg)
        _write_atomic(self.thumbnail_path(media_id), thumb)
        _write_atomic(self.sidecar_path(media_id), json.dumps(sidecar, ensure_ascii=False, indent=1).encode())
        item = MediaItem(media_id, sidecar)
        with self._lock:
            self._items[media_id] = item
            self.evict(keep=media_id)
        return item

    def add_annotations(self, media_id: str, strokes: list[dict[str, Any]]) -> None:
        """Append vector strokes (drawn on the board) to the item's sidecar."""
        with self._lock:
            item = self._items.get(media_id)
            if item is None:
                raise KeyError(media_id)
            item.meta.setdefault("annotations", []).extend(strokes)
            item.meta["updated"] = now_iso()
            _write_atomic(self.sidecar_path(media_id), json.dumps(item.meta, ensure_ascii=False, indent=1).encode())

    def delete(self, media_id: str) -> bool:
        with self._lock:
            item = self._items.pop(media_id, None)
            if item is None:
                return False
            # The sidecar goes first: without it the item no longer exists, even if the rest stays.
            for path in (self.sidecar_path(media_id), self.original_path(media_id), self.thumbnail_path(media_id)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            return True

    def evict(self, keep: str | None = None) -> list[str]:
        """Delete the oldest items until under the cap; never the current lesson's. Returns what went."""
        current = self.current_lesson() if self.current_lesson is not None else None
        gone: list[str] = []
        with self._lock:
            total = self.total_bytes
            if total <= self.max_bytes:
                return gone
            for item in self.all():
                if total <= self.max_bytes:
                    break
                if item.id == keep or (current is not None and item.meta.get("lesson") == current):
                    continue
                total -= item.size
                self.delete(item.id)
                gone.append(item.id)
            if total > self.max_bytes:
                log.warning("media store is over its cap (%d > %d bytes) with the current lesson's media only",
                            total, self.max_bytes)
        if gone:
            log.info("evicted %d media items to stay under %d bytes", len(gone), self.max_bytes)
        return gone

    def new_sequence_id(self) -> str:
        return f"tl-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
