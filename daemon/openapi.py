"""Generate the OpenAPI 3.1 document of the agent's HTTP API from response and request models.

`python -m classroomd.daemon.openapi > docs/openapi.json`; a test fails when the committed document
differs from what this produces, and the fuzz suite (tests/fuzz/test_http_api.py) runs schemathesis
from it against a demo daemon. It covers the JSON API and media; the board and gallery pages, the
board's WebSocket and a microscope's endless MJPEG stream are not request/response and are left out.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from classroomd import __version__
from classroomd.bus import payloads
from classroomd.core import limits
from classroomd.services.board_hub import PANEL_ID_RE
from classroomd.services.media import ID_RE as MEDIA_ID_RE
from classroomd.services.uploads import ID_RE as FILE_ID_RE

REF = "#/components/schemas/{model}"
DEVICE_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
SEGMENT = r"^[A-Za-z0-9_-]{1,64}$"


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class HttpError(Closed):
    """Every error of the HTTP API: the same `error` as an MQTT error reply's."""

    error: payloads.ErrorBody


class Healthz(Closed):
    status: str = Field(description="`ok` while the daemon serves")
    devices: int = Field(ge=0)


class DeviceDetail(payloads.DeviceState):
    describe: dict[str, Any] = Field(description="properties and actions, as the MQTT `describe` reply has them")


class UploadedFile(Closed):
    id: str = Field(pattern=FILE_ID_RE.pattern)
    name: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str


class UploadReply(Closed):
    file: UploadedFile


class UploadList(Closed):
    files: list[UploadedFile]


class MediaItem(Open):
    """A capture's sidecar: its URLs, then what the microscope recorded (kind-specific)."""

    id: str
    url: str
    thumb_url: str
    json_url: str


class MediaListing(Closed):
    lesson: str | None
    count: int = Field(ge=0)
    media: list[MediaItem]


class Deleted(Closed):
    deleted: str


class Strokes(Open):
    strokes: list[dict[str, Any]] = Field(description="vector strokes drawn on the still, as the board sends them")


class Annotated(Closed):
    id: str
    annotations: int = Field(ge=0)


class BoardCurrent(Closed):
    panel: str
    content: dict[str, Any] | None = Field(description="what the panel's board shows, or null")
    boards: int = Field(ge=0, description="board pages connected for the panel")


class GalleryMedia(Open):
    id: str
    url: str
    thumb_url: str


class LessonGallery(Closed):
    id: str
    current: bool
    lesson: dict[str, Any] | None
    media: list[GalleryMedia]
    prints: list[dict[str, Any]]


class LinkedOffer(Open):
    """A linked room's offer waiting at the hub (`R/linked/offer`, docs/linked.md)."""

    room: str = Field(description="`{site}/{room}` of the room that offers")
    seq: int
    lesson: str
    media: dict[str, Any] = Field(description="the picture's description; its copy is fetched only on acceptance")
    thumb: str | None = Field(None, description="a JPEG of at most 8 KB, base64")


class MyOffer(Closed):
    seq: int
    media: str
    state: str = Field(description="waiting, shown or dismissed")


class LinkedStatus(Closed):
    role: str | None = Field(description="hub, linked, or null when no linked lesson runs")
    lesson: str | None = None
    hub: str | None = None
    rooms: list[str] = Field(description="the other rooms of the linked lesson")
    line: dict[str, str] | None = Field(description="the board's \"linked with …\" line: kk, ru, en")
    offers: list[LinkedOffer] = Field(description="hub: offers waiting for the teacher")
    offer: MyOffer | None = Field(None, description="linked room: its own offer and the hub's answer")
    bytes_up: int = Field(0, ge=0)
    bytes_down: int = Field(0, ge=0)
    unsent: int = Field(0, ge=0)


class LinkedAccepted(Closed):
    media: str = Field(description="the local copy's media id, now on this room's panels")
    from_: str = Field(alias="from")


class LinkedDismissed(Closed):
    dismissed: str


MODELS: tuple[type[BaseModel], ...] = (HttpError, Healthz, payloads.DeviceState, DeviceDetail, UploadedFile,
                                       UploadReply, UploadList, MediaItem, MediaListing, Deleted, Strokes,
                                       Annotated, BoardCurrent, GalleryMedia, LessonGallery, LinkedStatus,
                                       LinkedAccepted, LinkedDismissed)


def _schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template=REF)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


def _json(model: str, description: str, array: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": REF.format(model=model)}
    if array:
        schema = {"type": "array", "items": schema}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {400: "the request is malformed (`bad_json`, `invalid_arguments`, …)",
             401: "the token is missing or wrong (`unauthorized`)",
             404: "no such thing (`unknown_device`, `unknown_media`, `unknown_file`, `not_linked`)",
             409: "not now (`no_offer`: that room offers nothing; or why showing it failed)",
             413: f"the body is over its limit (`too_large`): {limits.MAX_HTTP_BODY_BYTES} bytes for JSON, "
                  "the upload limit for files"}
    out = {str(status): _json("HttpError", words[status]) for status in statuses}
    if "404" in out:
        # A path that matches no route at all (an id with characters ids never have) is refused by
        # aiohttp's router itself, in plain text.
        out["404"]["content"]["text/plain"] = {"schema": {"type": "string"}}
    return out


def _path(name: str, pattern: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


JPEG = {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}
TOKEN: list[dict[str, list[str]]] = [{"bearer": []}]


def paths() -> dict[str, Any]:
    media_id = _path("media_id", MEDIA_ID_RE.pattern, "a capture's id")
    room = [_path("site", SEGMENT, "the linked room's site"), _path("room", SEGMENT, "the linked room")]
    return {
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json("Healthz", "the daemon serves")}}},
        "/api/v1/devices": {"get": {"summary": "The inventory: every device's state",
                                    "responses": {"200": _json("DeviceState", "every device", array=True)}}},
        "/api/v1/devices/{device_id}": {"get": {
            "summary": "One device's state and description",
            "parameters": [_path("device_id", DEVICE_ID, "a device id")],
            "responses": {"200": _json("DeviceDetail", "the device"), **_errors(404)}}},
        "/api/v1/uploads": {
            "get": {"summary": "Uploaded G-code files", "responses": {"200": _json("UploadList", "the files")}},
            "post": {
                "summary": "Upload a G-code file: streamed to disk, size-limited, sha256 computed",
                "security": TOKEN,
                "parameters": [_query("name", {"type": "string", "minLength": 1},
                                      "the file name, for a raw body (the form's file name otherwise)")],
                # An empty body is stored as an empty file (a print of it is refused with `empty_file`).
                "requestBody": {"required": False, "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                        "file": {"type": "string", "format": "binary"}}}}}},
                "responses": {"201": _json("UploadReply", "stored"), **_errors(400, 401, 413)}}},
        "/api/v1/uploads/{file_id}": {"get": {
            "summary": "One uploaded file",
            "parameters": [_path("file_id", FILE_ID_RE.pattern, "an upload's id")],
            "responses": {"200": _json("UploadReply", "the file"), **_errors(404)}}},
        "/api/v1/media": {"get": {
            "summary": "Captures: of a lesson, of a time-lapse, or the newest",
            "parameters": [_query("lesson", {"type": "string"}, "a lesson id"),
                           _query("sequence", {"type": "string"}, "a time-lapse's id"),
                           _query("limit", {"type": "integer", "minimum": 1, "default": 200},
                                  "how many of the newest, without lesson or sequence")],
            "responses": {"200": _json("MediaListing", "the captures"), **_errors(400)}}},
        "/media/{media_id}": {
            "get": {"summary": "A capture (JPEG)", "parameters": [media_id],
                    "responses": {"200": {"description": "the image", **JPEG}, **_errors(404)}},
            "delete": {"summary": "Delete a capture", "parameters": [media_id], "security": TOKEN,
                       "responses": {"200": _json("Deleted", "deleted"), **_errors(401, 404)}}},
        "/media/{media_id}/thumb": {"get": {
            "summary": "A capture's thumbnail (JPEG)", "parameters": [media_id],
            "responses": {"200": {"description": "the thumbnail", **JPEG}, **_errors(404)}}},
        "/media/{media_id}.json": {"get": {
            "summary": "A capture's sidecar", "parameters": [media_id],
            "responses": {"200": _json("MediaItem", "the sidecar"), **_errors(404)}}},
        "/media/{media_id}/annotations": {"post": {
            "summary": "Add strokes drawn on a capture", "parameters": [media_id], "security": TOKEN,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF.format(model="Strokes")}}}},
            "responses": {"200": _json("Annotated", "added"), **_errors(400, 401, 404, 413)}}},
        "/board/current": {"get": {
            "summary": "What a panel's lesson board shows",
            "parameters": [_query("panel", {"type": "string", "pattern": PANEL_ID_RE.pattern}, "a panel's id",
                                  required=True)],
            "responses": {"200": _json("BoardCurrent", "the board's content"), **_errors(400)}}},
        "/api/v1/lessons/{lesson_id}": {"get": {
            "summary": "A lesson's gallery: captures and prints",
            # Any id is answered, an unknown one with an empty gallery: an old lesson's link must not break.
            "parameters": [{**_path("lesson_id", "", "a lesson id"), "schema": {"type": "string", "minLength": 1}}],
            "responses": {"200": _json("LessonGallery", "the gallery"), **_errors(404)}}},
        "/api/v1/linked": {"get": {
            "summary": "The linked lesson: role, rooms, the board's line, offers, bytes (docs/linked.md)",
            "responses": {"200": _json("LinkedStatus", "the linked lesson, or role null")}}},
        "/api/v1/linked/offers/{site}/{room}/accept": {"post": {
            "summary": "Show that linked room's offer on this room's panels (the hub)", "security": TOKEN,
            "parameters": room,
            "responses": {"200": _json("LinkedAccepted", "shown"), **_errors(401, 404, 409)}}},
        "/api/v1/linked/offers/{site}/{room}/dismiss": {"post": {
            "summary": "Dismiss that linked room's offer (the hub); the room is told", "security": TOKEN,
            "parameters": room,
            "responses": {"200": _json("LinkedDismissed", "dismissed"), **_errors(401, 404, 409)}}},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "classroomd HTTP API",
            "version": __version__,
            "description": "Generated from classroomd's models by `python -m classroomd.daemon.openapi`. "
                           f"JSON bodies: at most {limits.MAX_HTTP_BODY_BYTES} bytes and "
                           f"{limits.MAX_JSON_DEPTH} levels of nesting. Endpoints that change anything need "
                           "`Authorization: Bearer <token>` (state_dir/token).",
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "`[http] listen`"}],
        "paths": paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
