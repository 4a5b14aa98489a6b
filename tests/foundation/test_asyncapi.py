"""docs/asyncapi.yaml is generated from the payload models and must not go stale."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from classroomd.daemon.asyncapi import document, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


def test_committed_document_is_current() -> None:
    assert DOC.read_text() == render(), "docs/asyncapi.yaml is stale: run `make docs` and commit it"


def test_document_is_yaml_of_the_models() -> None:
    parsed = yaml.safe_load(DOC.read_text())
    assert parsed == json.loads(json.dumps(document()))
    assert parsed["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in parsed["channels"].values()}
    b = "{base_topic}/{site}/{room}"
    for suffix in ("agent", "agent/health", "devices", "{device_id}", "{device_id}/availability",
                   "{device_id}/event/{event}", "{target}/request/{action}", "{target}/response/{action}",
                   "lesson", "alert/{alert_id}"):
        assert f"{b}/{suffix}" in addresses
    health = parsed["components"]["schemas"]["Health"]
    assert {"seq", "session", "ts", "status", "uptime_s", "outbox_depth", "devices"} <= set(health["required"])
    assert {"ping", "rescan", "rebirth", "lesson_start", "lesson_end"} <= set(parsed["x-actions"]["agent"])


def test_every_message_reference_resolves() -> None:
    parsed = yaml.safe_load(DOC.read_text())
    text = json.dumps(parsed)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node = parsed
        for key in ref.removeprefix("#/").split("/"):
            node = node[key]
        assert node is not None
