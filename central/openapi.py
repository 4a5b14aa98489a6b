"""The API's OpenAPI 3.1 document, generated from `models.py`:
`python -m classroomd.central.openapi > docs/central-openapi.json` (a test fails when it is stale)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, TypeAdapter

from classroomd import __version__
from classroomd.central import models as m

REF = "#/components/schemas/{model}"


def _schema(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(kind).json_schema(ref_template=REF, by_alias=True)
    components.update(schema.pop("$defs", {}))
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        components[kind.__name__] = schema
        return {"$ref": REF.format(model=kind.__name__)}
    return schema


def _json(kind: Any, components: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _schema(kind, components)}}}


def _error(components: dict[str, Any], description: str) -> dict[str, Any]:
    return _json(m.ErrorOut, components, description)


def _query(name: str, description: str, example: str | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "description": description,
                             "schema": {"type": "string"}}
    if example:
        param["example"] = example
    return param


def document() -> dict[str, Any]:
    c: dict[str, Any] = {}
    path_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    room_params = [{"name": "site", "in": "path", "required": True, "schema": {"type": "string"}},
                   {"name": "room", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "liveness, broker link and ingest counters",
                             "responses": {"200": _json(m.HealthzOut, c, "ok, or degraded without a broker")}}},
        "/api/v1/sites": {"get": {
            "summary": "one line per school: its classrooms by presence, open alerts",
            "responses": {"200": _json(list[m.SiteOut], c, "schools")}}},
        "/api/v1/classrooms": {"get": {
            "summary": "every classroom central knows, with its presence and devices (last known state while dark)",
            "parameters": [_query("site", "one site only")],
            "responses": {"200": _json(list[m.ClassroomOut], c, "classrooms by site and room")}}},
        "/api/v1/classrooms/{site}/{room}": {"get": {
            "summary": "one classroom",
            "parameters": room_params,
            "responses": {"200": _json(m.ClassroomOut, c, "the classroom"), "404": _error(c, "unknown")}}},
        "/api/v1/classrooms/{site}/{room}/health": {"get": {
            "summary": "health samples in a window, oldest first",
            "parameters": [*room_params, _query("from", "UNIX seconds (default: a day ago)"),
                           _query("to", "UNIX seconds (default: now)"), _query("limit", "default 2000")],
            "responses": {"200": _json(list[m.HealthSample], c, "samples"), "400": _error(c, "bad query")}}},
        "/api/v1/events": {"get": {
            "summary": "stored events, newest first",
            "parameters": [_query("site", "one site"), _query("room", "one room"), _query("device", "one device"),
                           _query("from", "UNIX seconds (default: a day ago)"),
                           _query("to", "UNIX seconds (default: now)"), _query("limit", "default 500")],
            "responses": {"200": _json(list[m.EventOut], c, "events"), "400": _error(c, "bad query")}}},
        "/api/v1/classrooms/{site}/{room}/availability": {"get": {
            "summary": "seconds in each presence state over a window, from the stored intervals",
            "parameters": [*room_params, _query("device", "a device id; the classroom itself when absent"),
                           _query("from", "UNIX seconds (default: a day ago)"),
                           _query("to", "UNIX seconds (default: now)")],
            "responses": {"200": _json(m.AvailabilityOut, c, "totals per state"),
                          "400": _error(c, "from/to are not numbers")}}},
        "/api/v1/alerts": {"get": {
            "summary": "alerts, newest first: active and past",
            "parameters": [_query("active", "1: only active ones"), _query("site", "one site only"),
                           _query("limit", "at most this many (default 500, up to 5000)")],
            "responses": {"200": _json(list[m.AlertOut], c, "alerts"), "400": _error(c, "bad limit")}}},
        "/api/v1/alerts/{id}/history": {"get": {
            "summary": "what happened to an alert: raised, acknowledged, cleared",
            "parameters": [path_id],
            "responses": {"200": _json(list[m.AlertStep], c, "steps in order")}}},
        "/api/v1/alerts/{id}/ack": {"post": {
            "summary": "acknowledge an alert (who, note); needs the bearer token",
            "security": [{"bearer": []}], "parameters": [path_id],
            "requestBody": {"required": False, "content": {"application/json": {"schema": _schema(m.AckIn, c)}}},
            "responses": {"200": _json(m.AlertOut, c, "the alert, acknowledged"),
                          "400": _error(c, "the body is not the expected JSON"),
                          "401": _error(c, "no or wrong token"), "404": _error(c, "no such alert")}}},
        "/api/v1/inventory": {"get": {
            "summary": "every device per school and room",
            "parameters": [_query("gone", "1: include devices no longer present")],
            "responses": {"200": _json(list[m.InventoryItemOut], c, "devices")}}},
        "/api/v1/inventory.csv": {"get": {
            "summary": "the inventory as CSV (UTF-8 with BOM), columns as in /api/v1/inventory",
            "parameters": [_query("gone", "1: include devices no longer present")],
            "responses": {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}}}},
        "/api/v1/inventory/history": {"get": {
            "summary": "the inventory's changes, newest first: added, gone, back, changed (a new serial is a "
                       "replacement), moved from another classroom",
            "parameters": [_query("site", "one site only"), _query("room", "one room only"),
                           _query("limit", "at most this many (default 1000)")],
            "responses": {"200": _json(list[m.InventoryChange], c, "changes"), "400": _error(c, "bad limit")}}},
        "/api/v1/usage": {"get": {
            "summary": "active minutes per device, in total and per UTC day, from health usage counters",
            "parameters": [_query("from", "first day, YYYY-MM-DD (default: a week ago)", "2026-12-01"),
                           _query("to", "last day, YYYY-MM-DD (default: today)", "2026-12-07")],
            "responses": {"200": _json(m.UsageOut, c, "usage"), "400": _error(c, "from/to are not dates")}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "classroomd central", "version": __version__,
                 "description": "The district's view of every classroom: presence, alerts, inventory, usage. "
                                "Times are ISO-8601 UTC."},
        "servers": [{"url": "http://127.0.0.1:8090"}],
        "paths": paths,
        "components": {"schemas": dict(sorted(c.items())),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "the token file in central's state dir"}}},
    }


def render() -> str:
    return json.dumps(document(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")
