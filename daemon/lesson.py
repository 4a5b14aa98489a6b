"""The current lesson, kept on disk so a restart mid-lesson keeps tagging its media and jobs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from classroomd.core.timestamps import now_iso
from classroomd.core.vocabulary import Lesson


class LessonBook:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "lesson.json"
        self.current: Lesson | None = None
        try:
            data = json.loads(self.path.read_text())
            self.current = Lesson.from_dict(data) if data else None
        except (OSError, ValueError):
            self.current = None

    def start(self, subject: str, teacher: str, lesson_id: str | None = None) -> Lesson:
        started = now_iso()
        lesson_id = lesson_id or f"{datetime.now(UTC):%Y%m%d-%H%M}-{uuid.uuid4().hex[:6]}"
        self.current = Lesson(id=lesson_id, subject=subject, teacher=teacher, started=started)
        self._save()
        return self.current

    def end(self) -> Lesson | None:
        ended, self.current = self.current, None
        self._save()
        return ended

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.current.as_dict() if self.current else {}))
        tmp.replace(self.path)
