"""Capture and show, in one step: the microscope's still on the panel's lesson board."""

from __future__ import annotations

import time
from typing import Any

from classroomd.devices.base import Device, DeviceHost, Kind, RequestError


def _device(host: DeviceHost, device_id: str, kind: Kind) -> Device:
    found = host.device(device_id)
    if found is None:
        raise RequestError("unknown_device", f"no device {device_id!r} in this classroom")
    if found.kind != kind:
        raise RequestError("wrong_kind", f"{device_id} is a {found.kind}, not a {kind}")
    return found


async def capture_and_show(agent: DeviceHost, microscope_id: str, panel_id: str) -> dict[str, Any]:
    """Capture on the microscope, then show the capture on the panel; errors say which step failed."""
    scope = _device(agent, microscope_id, Kind.MICROSCOPE)
    panel = _device(agent, panel_id, Kind.PANEL)
    started = time.perf_counter()
    try:
        captured = await scope.request("capture", {})
    except RequestError as exc:
        raise RequestError(exc.code, f"step capture on {microscope_id}: {exc.message}",
                           {"step": "capture"}) from None
    media_id = str(captured.get("media_id", ""))
    if not media_id:
        raise RequestError("capture_failed", f"step capture: {microscope_id} returned no media id",
                           {"step": "capture"})
    captured_at = time.perf_counter()
    try:
        shown = await panel.request("show", {"media": media_id})
    except RequestError as exc:
        raise RequestError(exc.code, f"{exc.message} (the capture was saved as {media_id})",
                           {"step": (exc.details or {}).get("step", "show") if isinstance(exc.details, dict)
                            else "show", "media_id": media_id}) from None
    done = time.perf_counter()
    return {
        "media_id": media_id,
        "url": captured.get("url"),
        "thumbnail_url": captured.get("thumbnail_url"),
        "panel": panel_id,
        "steps": shown.get("steps", []),
        "board": shown.get("board"),
        "timings_ms": {"capture": round((captured_at - started) * 1000, 1),
                       "show": round((done - captured_at) * 1000, 1)},
    }
