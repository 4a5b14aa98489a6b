"""What a panel's lesson board is asked to show: `show`'s arguments and the board content made of them."""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from classroomd.devices.base import DeviceHost, Kind, RequestError


class ShowArgs(BaseModel):
    """Exactly one of: a media id, a microscope's live stream, a card, or clear."""

    model_config = ConfigDict(extra="forbid")
    media: str | None = Field(None, description="a media id from a capture")
    stream: str | None = Field(None, description="a microscope's device id: its live stream")
    card: dict[str, Any] | None = Field(
        None, description='a card: {"type": "print"|"country"|"text", ...}')
    clear: bool | None = Field(None, description='true: the blank "eyes here" screen')

    @model_validator(mode="after")
    def _one(self) -> ShowArgs:
        given = [k for k in ("media", "stream", "card", "clear") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError("give exactly one of media, stream, card or clear")
        return self



def board_content(host: DeviceHost, panel_id: str, args: ShowArgs) -> dict[str, Any]:
    """What a panel's board is told to show for `show`'s arguments (a media item, a stream, a card, clear)."""
    lesson = host.lesson
    base: dict[str, Any] = {"panel": panel_id, "lesson": lesson.id if lesson else None,
                            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.media is not None:
        item = host.media.get(args.media)
        if item is None:
            raise RequestError("unknown_media", f"no media {args.media!r} in this classroom's store",
                               {"step": "content"})
        meta = item.meta
        return {**base, "kind": "media", "media": item.id, "url": item.url, "thumb_url": item.thumb_url,
                "width": meta.get("width"), "height": meta.get("height"), "um_per_px": meta.get("um_per_px"),
                "magnification": meta.get("magnification"), "device": meta.get("device"),
                "caption": meta.get("caption") or "", "created": meta.get("created")}
    if args.stream is not None:
        scope = host.device(args.stream)
        if scope is None:
            raise RequestError("unknown_device", f"no device {args.stream!r} to stream from", {"step": "content"})
        if scope.kind != Kind.MICROSCOPE:
            raise RequestError("not_a_stream", f"{args.stream} is a {scope.kind}, not a microscope",
                               {"step": "content"})
        return {**base, "kind": "stream", "device": scope.id, "name": scope.name,
                "url": f"/devices/{scope.id}/stream"}
    if args.card is not None:
        return {**base, "kind": "card", "card": args.card}
    return {**base, "kind": "clear"}
