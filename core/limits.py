"""How much a client may send: the limits of the MQTT requests, HTTP bodies and board messages.

Stated once here so the router, the HTTP server, the board's WebSocket and the documentation
(docs/mqtt.md "Limits", docs/openapi.json) name the same numbers. Standard library only.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: An MQTT request payload. The largest legitimate request (a `show` card, a lesson) is a few
#: kilobytes; uploads of G-code go over HTTP. Answered `too_large` beyond it.
MAX_REQUEST_BYTES = 256 * 1024
#: Nesting of arrays and objects in a JSON request, HTTP body or board message. Python's parser
#: recurses once per level, so a 100,000-deep `[[[…]]]` would raise RecursionError inside it;
#: no argument model of any action nests deeper than a handful of levels.
MAX_JSON_DEPTH = 64
#: An HTTP request body read into memory (JSON and forms). Uploads are streamed to disk under
#: their own, larger limit (`web/uploads.py`).
MAX_HTTP_BODY_BYTES = 1024 * 1024
#: One WebSocket message from a lesson board (an acknowledgement is a few hundred bytes).
MAX_WS_MESSAGE_BYTES = 64 * 1024

# A JSON string (escapes included), or one bracket. Brackets inside strings do not nest anything.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JsonTooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed; it was not parsed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels (the limit)")
        self.limit = limit


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `text` opens more than `limit` arrays/objects at once.

    One linear scan without recursion, so it is safe on any input; malformed text is left to
    the parser to reject (an unterminated string only makes the count err on the deep side).
    """
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def loads(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads` that refuses deep nesting (JsonTooDeep) before parsing; other errors as json's."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if json_depth_exceeds(text, limit):
        raise JsonTooDeep(limit)
    return json.loads(text)
