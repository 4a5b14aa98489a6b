"""What the HTTP layer may use of the daemon: looked up per request, never global."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from classroomd.devices.base import Device, Lesson
from classroomd.web.errors import http_error

if TYPE_CHECKING:
    from classroomd.services.board_hub import BoardHub
    from classroomd.services.media import MediaStore
    from classroomd.services.uploads import UploadStore


class WebContext(Protocol):
    @property
    def token(self) -> str: ...
    @property
    def state_dir(self) -> Path: ...
    @property
    def http_base(self) -> str: ...
    @property
    def lesson(self) -> Lesson | None: ...
    @property
    def media(self) -> MediaStore: ...
    @property
    def uploads(self) -> UploadStore: ...
    @property
    def board(self) -> BoardHub: ...
    def device(self, device_id: str) -> Device | None: ...
    def all_devices(self) -> list[Device]: ...


CONTEXT: web.AppKey[WebContext] = web.AppKey("classroomd.context")


def context(request: web.Request) -> WebContext:
    return request.app[CONTEXT]


def require_token(request: web.Request) -> None:
    """Endpoints that change anything need `Authorization: Bearer <token>` (or `?token=`)."""
    expected = context(request).token
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    given = given or request.query.get("token", "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise http_error(401, "unauthorized",
                         "this endpoint needs the daemon's token (Authorization: Bearer …); it is in state_dir/token")
