"""Generate the AsyncAPI 3 document of the MQTT contract from the payload models.

`python -m classroomd.daemon.asyncapi > docs/asyncapi.yaml`; a test fails when
the committed document differs from what this produces.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel

from classroomd import __version__
from classroomd.bus import linked, payloads
from classroomd.devices.base import ActionTarget, Kind

REF = "#/components/schemas/{model}"
PARAMS = {
    "base_topic": {"description": "`[mqtt] base_topic`, default `classroom`"},
    "site": {"description": "the school's id (`site` in the config)"},
    "room": {"description": "the classroom (`room` in the config)"},
}
DEVICE = {"device_id": {"description": "a device id: lowercase [a-z0-9-], stable across restarts and replugs"}}


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        payloads.AgentState, payloads.Health, payloads.InventoryItem, payloads.DeviceState, payloads.Event,
        payloads.Request, payloads.Response, payloads.LessonState, payloads.Alert, payloads.LessonStartArgs,
        linked.Invite, linked.LinkedBoard, linked.Offer, linked.Answer, linked.LiveAck,
    ]
    out: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        for name, sub in schema.pop("$defs", {}).items():
            out[name] = sub
        out[model.__name__] = schema
    out["Inventory"] = {"type": "array", "items": {"$ref": REF.format(model="InventoryItem")}}
    out["Availability"] = {"type": "string", "enum": ["online", "offline"]}
    out["LinkedJpeg"] = {"type": "string", "format": "binary", "description": "JPEG bytes"}
    out["LinkedFrame"] = {"type": "string", "format": "binary",
                          "description": "16 bytes (sequence, capture time in ms; big-endian u64 each), then a JPEG"}
    out["LinkedInk"] = {"type": "string", "format": "binary",
                        "description": "a batch of tablet ink (services/linked_ink.py): header `seq u32, batch u32, "
                                       "flags u8`, then per stroke `key u16, first point u16, r g b u8, width×4 u8, "
                                       "aspect×1000 u16, final u8, count u16` and count points `x:12 y:12 p:8`"}
    return out


def _action_schemas() -> dict[str, dict[str, Any]]:
    """Request arguments per target: the agent's and each device kind's actions."""
    from classroomd.daemon.agent import AgentActions
    from classroomd.devices import device_class

    targets: dict[str, type[ActionTarget]] = {"agent": AgentActions}
    for kind in Kind.all():
        try:
            targets[str(kind)] = device_class(kind)
        except ImportError:
            continue
    out: dict[str, dict[str, Any]] = {}
    for target, cls in targets.items():
        out[target] = {
            name: {"description": spec.description.strip().splitlines()[0] if spec.description.strip() else "",
                   "args": spec.args.model_json_schema(ref_template=REF)}
            for name, spec in sorted(cls.actions().items())
        }
    return out


def _channel(address: str, message: str, description: str, device: bool = False) -> dict[str, Any]:
    params = dict(PARAMS)
    if device:
        params.update(DEVICE)
    names = re.findall(r"{(\w+)}", address)
    return {
        "address": address,
        "description": description,
        "parameters": {n: params.get(n, {"description": n}) for n in names},
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
    }


def document() -> dict[str, Any]:
    b = "{base_topic}/{site}/{room}"
    channels = {
        "agent": _channel(f"{b}/agent", "AgentState", "Retained. The agent; the MQTT will sets state offline."),
        "health": _channel(f"{b}/agent/health", "Health",
                           "Retained, through the outbox, every health_interval_s."),
        "inventory": _channel(f"{b}/devices", "Inventory", "Retained. The whole inventory."),
        "device": _channel(f"{b}/{{device_id}}", "DeviceState", "Retained. One device's state.", True),
        "availability": _channel(f"{b}/{{device_id}}/availability", "Availability",
                                 "Retained, plain text.", True),
        "event": {**_channel(f"{b}/{{device_id}}/event/{{event}}", "Event",
                             "Not retained, through the outbox; seq per topic.", True)},
        "request": _channel(f"{b}/{{target}}/request/{{action}}", "Request",
                            "target is `agent` or a device id; every request gets exactly one response."),
        "response": _channel(f"{b}/{{target}}/response/{{action}}", "Response",
                             "Also sent to an MQTT 5 Response Topic, with the Correlation Data copied."),
        "lesson": _channel(f"{b}/lesson", "LessonState", "Retained. The current lesson, or {}."),
        "alert": _channel(f"{b}/alert/{{alert_id}}", "Alert",
                          "Retained while active; an empty retained payload clears it."),
        # Linked lessons (docs/linked.md): on the shared (district) broker, under the publishing room's root.
        "linked_invite": _channel(f"{b}/linked/invite/{{to_site}}/{{to_room}}", "Invite",
                                  "Retained. The hub's lesson for one invited room; empty when it ends."),
        "linked_board": _channel(f"{b}/linked/board/{{panel}}", "LinkedBoard",
                                 "Retained. What the hub's panel shows; linked rooms apply only the newest."),
        "linked_media": _channel(f"{b}/linked/media/{{media_id}}", "LinkedJpeg",
                                 "Retained. A picture's remote copy (≤ 100 KB), fetched once per room."),
        "linked_offer": _channel(f"{b}/linked/offer", "Offer",
                                 "Retained. A linked room's picture offered to the hub, with a thumbnail ≤ 8 KB."),
        "linked_answer": _channel(f"{b}/linked/answer/{{to_site}}/{{to_room}}", "Answer",
                                  "Retained. The hub's answer to that room's offer."),
        "linked_live": _channel(f"{b}/linked/live/{{device_id}}", "LinkedFrame",
                                "Not retained, QoS 0. The hub's live microscope, one frame in flight."),
        "linked_live_ack": _channel(f"{b}/linked/live-ack", "LiveAck",
                                    "Not retained, QoS 0. A linked room's receipt of a frame."),
        "linked_ink": _channel(f"{b}/linked/ink/{{panel}}", "LinkedInk",
                               "Not retained, QoS 0. Tablet ink on the hub's panel, a batch every 150 ms."),
        "linked_ink_state": _channel(f"{b}/linked/ink-state/{{panel}}", "LinkedInk",
                                     "Retained. The panel's ink now (flag 2), at most 1 s old; taken only after "
                                     "a reconnect or a lost batch."),
    }
    for name in ("event", "request", "response", "alert"):
        for param in re.findall(r"{(\w+)}", channels[name]["address"]):
            channels[name]["parameters"].setdefault(param, {"description": param})
    binary = {"LinkedJpeg": "image/jpeg", "LinkedFrame": "application/octet-stream",
              "LinkedInk": "application/octet-stream", "Availability": "text/plain"}
    messages = {
        name: {"name": name, "contentType": binary.get(name, "application/json"),
               "payload": {"$ref": REF.format(model=name)}}
        for name in ("AgentState", "Health", "Inventory", "DeviceState", "Availability", "Event", "Request",
                     "Response", "LessonState", "Alert", "Invite", "LinkedBoard", "LinkedJpeg", "Offer", "Answer",
                     "LinkedFrame", "LiveAck", "LinkedInk")
    }
    operations = {
        f"publish_{name}": {"action": "send", "channel": {"$ref": f"#/channels/{name}"}}
        for name in ("agent", "health", "inventory", "device", "availability", "event", "lesson", "alert")
    }
    operations["answer_request"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/request"},
        "reply": {"channel": {"$ref": "#/channels/response"}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "classroomd MQTT API",
            "version": __version__,
            "description": "Generated from classroomd's payload models by `python -m classroomd.daemon.asyncapi`. "
                           "Error codes: " + ", ".join(f"`{k}` ({v})" for k, v in payloads.ERROR_CODES.items()),
        },
        "defaultContentType": "application/json",
        "servers": {"classroom": {"host": "127.0.0.1:1883", "protocol": "mqtt",
                                  "description": "the classroom's broker (or the embedded one)"}},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": _schemas(),
            "messages": messages,
        },
        "x-actions": _action_schemas(),
    }


_PLAIN_KEY = re.compile(r"[A-Za-z_$][\w.$-]*")
#: Plain words YAML 1.1 readers (PyYAML among them) take for booleans or null: always quoted.
_YAML11_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for JSON-like data (strings quoted, so no YAML type surprises)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return " {}\n"
        out = "\n"
        for key, item in value.items():
            plain = _PLAIN_KEY.fullmatch(str(key)) and str(key).lower() not in _YAML11_WORDS
            name = str(key) if plain else _scalar(str(key))
            out += f"{pad}{name}:"
            out += to_yaml(item, indent + 1)
        return out
    if isinstance(value, list):
        if not value:
            return " []\n"
        out = "\n"
        for item in value:
            rendered = to_yaml(item, indent + 1)
            out += f"{pad}-" + rendered
        return out
    return f" {_scalar(value)}\n"


def render() -> str:
    return "# Generated by `python -m classroomd.daemon.asyncapi`; do not edit.\n" + to_yaml(document()).lstrip("\n")


if __name__ == "__main__":
    print(render(), end="")
