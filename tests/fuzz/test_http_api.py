"""The HTTP API fuzzed from its own OpenAPI document (docs/openapi.json) with schemathesis, against the demo
classroom's daemon: no 5xx, every response as the document says (status, content type, schema); and the
attacks the document cannot express: path traversal, oversized uploads."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import settings
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from classroomd.daemon.openapi import document, render
from classroomd.web import uploads
from tests.fuzz.conftest import CI_EXAMPLES, Classroom

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
SCHEMA = schemathesis.openapi.from_dict(document())
# Both modes: valid requests, and requests that break the document (wrong types, missing parameters),
# which must be refused with a 4xx in the documented shape, never a 5xx.
SCHEMA.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True,
                                database="none")


#: Requests made per operation: printed at the end of the module (the README's figures come from it).
CALLS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def report_calls() -> Iterator[None]:
    yield
    if CALLS:
        print(f"\nschemathesis: {sum(CALLS.values())} requests over {len(CALLS)} operations: {dict(CALLS)}")


def test_committed_document_is_current() -> None:
    assert DOC.read_text() == render(), \
        "docs/openapi.json is stale: run `python -m classroomd.daemon.openapi > docs/openapi.json`"
    assert json.loads(DOC.read_text())["openapi"] == "3.1.0"


@SCHEMA.parametrize()
@settings(max_examples=CI_EXAMPLES // 2)
def test_api_answers_as_documented(case: schemathesis.Case[Any], classroom: Classroom) -> None:
    assert classroom.agent is not None
    trapped = len(classroom.trap.records)
    CALLS[f"{case.method} {case.path}"] += 1
    # A raw upload needs ?name=, a form names its file itself: a condition OpenAPI cannot state, so
    # whether such a request is accepted is not judged there (its status, shape and no 5xx still are).
    loose: list[CheckFunction] = []
    if case.path == "/api/v1/uploads":
        loose = [positive_data_acceptance, negative_data_rejection]
    case.call_and_validate(base_url=classroom.agent.http_base, excluded_checks=loose,
                           headers={"Authorization": f"Bearer {classroom.agent.token}"})
    assert classroom.trap.report()[trapped:] == []


TRAVERSALS = ("../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd",
              "..\\..\\etc\\passwd", "....//....//etc/passwd", "%00", "a/../../token", "/etc/passwd")


async def test_paths_never_leave_the_state_folder(classroom: Classroom) -> None:
    assert classroom.agent is not None
    base, token = classroom.agent.http_base, classroom.agent.token
    secret = (Path(classroom.agent.config.agent.state_dir) / "token").read_text().strip()
    async with aiohttp.ClientSession() as http:
        for attack in TRAVERSALS:
            for path in (f"/media/{attack}", f"/media/{attack}.json", f"/media/{attack}/thumb",
                         f"/api/v1/uploads/{attack}", f"/board/static/{attack}", f"/api/v1/lessons/{attack}",
                         f"/board/current?panel={attack}", f"/devices/{attack}/snapshot", f"/{attack}"):
                async with http.get(base + path, headers={"Authorization": f"Bearer {token}"}) as reply:
                    body = await reply.read()
                    assert reply.status < 500, (path, reply.status)
                    assert b"root:" not in body and secret.encode() not in body, path
        # A raw upload named like a path is stored under its last part, inside the upload folder.
        async with http.post(f"{base}/api/v1/uploads", params={"name": "../../../token"}, data=b"G28\n",
                             headers={"Authorization": f"Bearer {token}"}) as reply:
            assert reply.status == 201, await reply.text()
            stored = (await reply.json())["file"]
        assert "/" not in stored["name"] and not stored["name"].startswith(".")
        assert (Path(classroom.agent.config.agent.state_dir) / "token").read_text().strip() == secret


async def test_oversized_uploads_are_refused_and_deleted(classroom: Classroom,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert classroom.agent is not None
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 256 * 1024)
    base, headers = classroom.agent.http_base, {"Authorization": f"Bearer {classroom.agent.token}"}
    before = {f.id for f in classroom.agent.uploads.list()}
    trapped = len(classroom.trap.records)
    big = b"G1 X1\n" * (400 * 1024 // 6)  # over the limit and its allowance for form headers

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: only the streamed count can refuse it
        for start in range(0, len(big), 64 * 1024):
            yield big[start:start + 64 * 1024]

    async def refused(http: aiohttp.ClientSession, **request: Any) -> None:
        """413 `too_large`, or the connection cut while the client was still sending: the server may
        answer and close before the whole body is out, which is a refusal too (the store decides)."""
        try:
            async with http.post(f"{base}/api/v1/uploads", headers=headers, **request) as reply:
                assert reply.status == 413, await reply.text()
                assert (await reply.json())["error"]["code"] == "too_large"
        except (aiohttp.ClientConnectionError, ConnectionError):
            pass

    form = aiohttp.FormData()
    form.add_field("file", big, filename="big.gcode")
    async with aiohttp.ClientSession() as http:
        await refused(http, params={"name": "big.gcode"}, data=big)
        await refused(http, params={"name": "big.gcode"}, data=chunks())
        await refused(http, data=form)
        async with http.get(f"{base}/healthz") as reply:
            assert reply.status == 200
    assert classroom.trap.report()[trapped:] == []
    assert {f.id for f in classroom.agent.uploads.list()} == before
    leftovers = [p for p in (Path(classroom.agent.config.agent.state_dir) / "uploads").rglob("*")
                 if p.is_file() and p.parent.name not in before]
    assert leftovers == []
