"""Every MQTT request, generated: from each action's argument model, arbitrary JSON and arbitrary bytes,
against the demo classroom on a real Mosquitto.

Each request carries an MQTT 5 Response Topic with a Correlation Data of its own, so a reply is matched
to its request even when the payload was too broken to echo a transaction. Properties: exactly one reply
per request; `ok` or an error code the documentation names (never `internal_error`); the transaction
echoed; no traceback or error in the daemon's log; the devices not addressed keep their status.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from classroomd.core import limits
from classroomd.daemon.agent import AgentActions
from classroomd.devices import device_class
from classroomd.devices.base import ActionSpec
from tests.fuzz.conftest import ROOT, Classroom
from tests.fuzz.strategies import JSON, from_schema
from tests.support.probe import Probe, Received

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Every code a reply may carry: the ones the docs name (backticked), a bug's `internal_error` excepted.
DOCUMENTED = {code for page in DOCS.glob("*.md") for code in re.findall(r"`([a-z][a-z_]*)`", page.read_text())}
DOCUMENTED.discard("internal_error")
TARGETS = ("agent", "panel", "microscope", "printer", "tablet", "touch_table", "globe")


def actions_of(kind: str) -> dict[str, ActionSpec]:
    specs: dict[str, ActionSpec] = AgentActions.actions() if kind == "agent" else device_class(kind).actions()
    return specs


@dataclass
class Sent:
    action: str
    payload: bytes
    transaction: Any = None
    echoes: bool = False


class Requester:
    """Publishes requests with a correlation each and counts the replies that come back for each."""

    def __init__(self, port: int) -> None:
        self.replies = f"fuzz/replies/{uuid.uuid4().hex[:8]}"
        self.probe = Probe(port).connect()
        self.probe.subscribe(self.replies)
        self.ids = itertools.count(1)

    def ask(self, target: str, action: str, payload: bytes, timeout: float = 30) -> Received:
        correlation = str(next(self.ids)).encode()
        self.probe.publish(f"{ROOT}/{target}/request/{action}", payload, response_topic=self.replies,
                           correlation=correlation)
        return self.probe.wait_for(lambda m: m.topic == self.replies and m.correlation == correlation, timeout)

    def counts(self) -> Counter[bytes | None]:
        return Counter(m.correlation for m in self.probe.on(self.replies))


@pytest.fixture(scope="module")
def requester(classroom: Classroom) -> Iterator[Requester]:
    asker = Requester(classroom.mosquitto.port)
    yield asker
    asker.probe.close()


ACTION_NAME = st.from_regex(r"[a-z_]{1,24}", fullmatch=True)
TRANSACTION = st.integers() | st.text(max_size=12) | JSON


def requests(kind: str, words: tuple[str, ...]) -> st.SearchStrategy[Sent]:
    specs = actions_of(kind)
    names = sorted(specs)
    # A kind without actions (the touch table) still gets requests: unknown ones, and junk.
    known = st.sampled_from(names) if names else ACTION_NAME

    @st.composite
    def modelled(draw: st.DrawFn) -> Sent:
        """Arguments from the action's own model: mostly valid, so the action really runs."""
        action = draw(st.sampled_from(names))
        args = draw(from_schema(specs[action].args.model_json_schema(), words=words))
        transaction = draw(TRANSACTION)
        return Sent(action, json.dumps({**args, "transaction": transaction}).encode(), transaction, True)

    @st.composite
    def wrong_arguments(draw: st.DrawFn) -> Sent:
        action = draw(known | ACTION_NAME)
        args = draw(st.dictionaries(st.sampled_from(sorted({f for s in specs.values()
                                                              for f in s.args.model_fields} | {"x"})), JSON,
                                    max_size=4))
        transaction = draw(TRANSACTION)
        return Sent(action, json.dumps({**args, "transaction": transaction}).encode(), transaction, True)

    @st.composite
    def junk(draw: st.DrawFn) -> Sent:
        action = draw(known | ACTION_NAME)
        payload = draw(
            st.binary(max_size=64)
            | JSON.map(lambda v: json.dumps(v).encode())
            # around the depth limit, both sides, in arrays and objects
            | st.tuples(st.integers(limits.MAX_JSON_DEPTH - 2, limits.MAX_JSON_DEPTH + 2), st.booleans()).map(
                lambda d: (("[" * d[0] + "]" * d[0]) if d[1] else ('{"a":' * d[0] + "1" + "}" * d[0])).encode())
            | st.sampled_from([b"", b"null", b"NaN", b"\x00", b'{"transaction": NaN}', b"1e999999",
                               b'{"transaction": ' + b"9" * 5000 + b"}", b"[" * 100_000,
                               b"x" * (limits.MAX_REQUEST_BYTES + 1)]))
        return Sent(action, payload)

    if not names:
        return st.one_of(wrong_arguments(), junk())
    return st.one_of(modelled(), modelled(), wrong_arguments(), junk())


def check_reply(sent: Sent, reply: dict[str, Any]) -> None:
    assert reply["status"] in ("ok", "error"), reply
    if reply["status"] == "error":
        assert reply["error"]["code"] in DOCUMENTED, f"undocumented code: {reply['error']}"
        assert reply["error"]["message"], reply
    if sent.echoes and len(sent.payload) <= limits.MAX_REQUEST_BYTES:
        assert reply.get("transaction") == sent.transaction, reply


def settle(classroom: Classroom, baseline: dict[str, str], skip: str, timeout: float = 15) -> dict[str, str]:
    """The statuses of the devices other than `skip`, once back to the baseline (or as they are at the end)."""
    deadline = time.monotonic() + timeout
    while True:
        now = {k: v for k, v in classroom.statuses().items() if k != skip}
        if now == {k: v for k, v in baseline.items() if k != skip} or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", TARGETS)
def test_every_request_gets_one_documented_reply(classroom: Classroom, requester: Requester, kind: str) -> None:
    target = "agent" if kind == "agent" else next(i for i, k in classroom.devices.items() if k == kind)
    words = (*classroom.devices, "agent", "hdmi1", "KZ", "")
    baseline = classroom.statuses()
    trapped = len(classroom.trap.records)
    sent_count = 0

    @given(sent=requests(kind, words))
    def one_request(sent: Sent) -> None:
        nonlocal sent_count
        note(f"{target}/{sent.action}: {sent.payload[:300]!r}")
        sent_count += 1
        reply = requester.ask(target, sent.action, sent.payload).json()
        note(f"reply: {reply}")
        check_reply(sent, reply)
        assert classroom.trap.report()[trapped:] == []

    one_request()
    time.sleep(0.5)  # a second reply, if one were coming, has arrived by now
    repeated = {c: n for c, n in requester.counts().items() if n != 1}
    assert repeated == {}, f"requests with other than one reply: {repeated}"
    assert settle(classroom, baseline, target) == {k: v for k, v in baseline.items() if k != target}
    assert classroom.trap.report()[trapped:] == []
    assert sent_count > 0
    print(f"{target}: {sent_count} generated requests")
