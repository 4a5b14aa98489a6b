"""The one shape of an HTTP error body, the same as an MQTT error reply's `error`:
`{"error": {"code": "<stable code>", "message": "<readable text>"}}` (docs/http.md)."""

from __future__ import annotations

import json

from aiohttp import web

from classroomd.core.vocabulary import RequestError


def http_error(status: int, code: str, message: str) -> web.HTTPException:
    body = json.dumps(RequestError(code, message).body(), ensure_ascii=False)
    # A plain HTTPException with the status set: some subclasses (413) want extra constructor arguments.
    error = web.HTTPException(text=body, content_type="application/json")
    error.set_status(status)
    return error
