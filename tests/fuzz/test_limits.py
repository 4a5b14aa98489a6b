"""The stated limits (core/limits.py), enforced on every way in: MQTT requests over a real Mosquitto,
HTTP bodies, and the lesson board's WebSocket. Regression tests of what the fuzzers found."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from classroomd.bus.payloads import Response
from classroomd.bus.router import encode, error_response
from classroomd.core import limits
from classroomd.services.board_hub import BoardHub
from tests.fuzz.conftest import ROOT, Classroom
from tests.fuzz.strategies import JSON
from tests.support.probe import Probe

DEEP = b"[" * 100_000 + b"]" * 100_000


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def nest(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


@given(value=JSON, extra=st.integers(0, 80), text=st.text(alphabet='[]{}"\\ab', max_size=8))
def test_depth_check_agrees_with_the_parsed_depth(value: Any, extra: int, text: str) -> None:
    document = nest({"s": text, "v": value}, extra)
    encoded = json.dumps(document)
    assert limits.json_depth_exceeds(encoded, 64) == (depth(document) > 64)
    if depth(document) <= 64:
        assert limits.loads(encoded) == document


def test_deep_documents_are_refused_before_parsing() -> None:
    with pytest.raises(limits.JsonTooDeep, match="64 levels"):
        limits.loads(DEEP)
    with pytest.raises(limits.JsonTooDeep):
        limits.loads('{"a":' * 100_000)  # unterminated too: never handed to the recursive parser
    assert limits.loads('["[[[[", "\\"[[["]') == ["[[[[", '"[[[']


def test_a_reply_with_an_exception_in_its_details_is_still_encoded() -> None:
    # Found by the MQTT fuzzer: pydantic's error details hold the validator's ValueError, the reply
    # failed to encode, and the request got no reply at all.
    body = error_response(7, "invalid_arguments", "bad", [{"ctx": {"error": ValueError("no such input")}}])
    assert json.loads(encode(body))["error"]["details"][0]["ctx"]["error"] == "no such input"
    assert json.loads(encode(Response(status="ok", transaction=1, data={"x": object()})))["status"] == "ok"


async def test_board_ignores_an_infinite_show_id(tmp_path: Path) -> None:
    # Found by fuzzing the board's messages: `Infinity` is valid to json.loads and int() of it raised
    # OverflowError, which closed the board's socket.
    hub = BoardHub(tmp_path)
    connection = hub.attach("panel-1")
    hub.received(connection, limits.loads('{"type": "ack", "id": Infinity}'))
    hub.received(connection, {"type": "nack", "id": float("nan")})


# --- the limits on the wire ---------------------------------------------------------------------------------
def ask(probe: Probe, action: str, payload: bytes) -> list[dict[str, Any]]:
    topic = f"{ROOT}/agent/response/{action}"
    probe.publish(f"{ROOT}/agent/request/{action}", payload)
    probe.wait_for(lambda m: m.topic == topic, 20)
    probe.publish(f"{ROOT}/agent/request/ping", b'{"transaction": "after"}')  # replies are in order
    probe.wait_for(lambda m: m.topic == f"{ROOT}/agent/response/ping", 20)
    return [m.json() for m in probe.on(topic)]


@pytest.mark.parametrize(("payload", "code", "words"), [
    (DEEP, "bad_json", f"deeper than {limits.MAX_JSON_DEPTH} levels"),
    (b'{"transaction": 1, "a": ' + b"[" * 65 + b"]" * 65 + b"}", "bad_json", f"{limits.MAX_JSON_DEPTH} levels"),
    (b'{"transaction": 1, "pad": "' + b"x" * limits.MAX_REQUEST_BYTES + b'"}', "too_large",
     f"the limit is {limits.MAX_REQUEST_BYTES} bytes"),
])
def test_mqtt_requests_over_the_limits_get_one_reply(classroom: Classroom, payload: bytes, code: str,
                                                     words: str) -> None:
    probe = Probe(classroom.mosquitto.port).connect()
    try:
        probe.subscribe(f"{ROOT}/agent/response/#")
        trapped = len(classroom.trap.records)
        replies = ask(probe, "describe", payload)
        assert len(replies) == 1, replies
        assert replies[0]["error"]["code"] == code and words in replies[0]["error"]["message"], replies
        assert classroom.trap.report()[trapped:] == []
    finally:
        probe.close()


async def test_http_bodies_over_the_limits_are_refused(classroom: Classroom) -> None:
    assert classroom.agent is not None
    base, token = classroom.agent.http_base, classroom.agent.token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for url in (f"{base}/media/none/annotations", f"{base}/api/v1/remote/pin", f"{base}/api/v1/engineer/login"):
            async with http.post(url, data=DEEP, headers=headers) as reply:
                assert reply.status == 400, (url, reply.status, await reply.text())
                assert (await reply.json())["error"]["code"] == "bad_json"
            # Not labelled JSON, parsed as JSON by the handler anyway: still no 500.
            async with http.post(url, data=DEEP, headers={**headers, "Content-Type": "text/plain"}) as reply:
                assert reply.status < 500, (url, reply.status, await reply.text())
            for content_type, body in (("application/json; charset=klingon", b"{}"),
                                       ("application/json", b'{"strokes": "\xff\xfe"}')):
                async with http.post(url, data=body, headers={**headers, "Content-Type": content_type}) as reply:
                    assert reply.status == 400, (url, content_type, reply.status)
            big = b'{"strokes": [], "pad": "' + b"x" * limits.MAX_HTTP_BODY_BYTES + b'"}'
            async with http.post(url, data=big, headers=headers) as reply:
                assert reply.status == 413, (url, reply.status)
                error = (await reply.json())["error"]
                assert error["code"] == "too_large" and str(limits.MAX_HTTP_BODY_BYTES) in error["message"]


async def test_board_socket_survives_deep_and_refuses_large_messages(classroom: Classroom) -> None:
    assert classroom.agent is not None
    url = classroom.agent.http_base.replace("http", "ws", 1) + "/board/ws?panel=panel-1"
    trapped = len(classroom.trap.records)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "hello"
        # 30,000 levels: deep enough for a RecursionError, small enough to pass the size limit
        deep = "[" * 30_000 + "]" * 30_000
        assert len(deep) < limits.MAX_WS_MESSAGE_BYTES
        for junk in (deep, '{"type": "ack", "id": Infinity}', '{"type": "nack", "id": "x"}', "\x00"):
            await ws.send_str(junk)
        await ws.ping()
        await asyncio.sleep(0.3)
        assert not ws.closed and classroom.agent.board.connected("panel-1") == 1, "the board's socket was closed"
        await ws.send_str("x" * (limits.MAX_WS_MESSAGE_BYTES + 1))
        closing = await ws.receive(timeout=10)
        while closing.type == aiohttp.WSMsgType.TEXT:  # the demo tablet's ink may be on its way
            closing = await ws.receive(timeout=10)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        assert closing.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG or ws.close_code == 1009, closing
        await asyncio.sleep(0.2)
    assert classroom.trap.report()[trapped:] == []
