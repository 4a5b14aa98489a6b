"""Request/response: every request on `B/{target}/request/{action}` gets exactly one reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from classroomd.bus.client import Message
from classroomd.bus.payloads import ErrorBody, Response
from classroomd.bus.topics import Topics
from classroomd.core import limits
from classroomd.core.vocabulary import RequestError

log = logging.getLogger("classroomd.requests")


class Target(Protocol):
    async def request(self, name: str, args: Mapping[str, Any]) -> Mapping[str, Any]: ...


Reply = Callable[[str, bytes, Message], Awaitable[None]]


def encode(body: Response) -> bytes:
    try:
        # pydantic's validation details carry the validator's exception object (`ctx.error`): its
        # text is what a requester can use. Before, such a reply failed to encode and was never sent.
        return body.model_dump_json(exclude_none=True, fallback=str).encode()
    except (ValueError, TypeError) as exc:
        # Anything else a target put in its reply must not cost the requester the reply itself.
        log.error("a reply could not be encoded: %s", exc)
        fallback = error_response(body.transaction, "internal_error",
                                  f"the reply could not be encoded ({type(exc).__name__}); the daemon logged it")
        return fallback.model_dump_json(exclude_none=True).encode()


def error_response(transaction: Any, code: str, message: str, details: Any = None) -> Response:
    return Response(status="error", transaction=transaction,
                    error=ErrorBody(code=code, message=message, details=details))


class RequestRouter:
    def __init__(
        self,
        topics: Topics,
        resolve: Callable[[str], Target | None],
        reply: Reply,
        timeout_s: float = 120.0,
    ) -> None:
        self.topics = topics
        self.resolve = resolve
        self.reply = reply
        self.timeout_s = timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, message: Message) -> None:
        """Handle a request concurrently, so a slow action never holds up the others."""
        task = asyncio.create_task(self.handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, message: Message) -> None:
        parsed = self.topics.parse_request(message.topic)
        if parsed is None:
            return
        try:
            body = await self.answer(parsed.target, parsed.action, message.payload)
        except Exception as exc:  # the contract promises one reply to every request, a bug included
            log.exception("request %s/%s failed before it reached its target", parsed.target, parsed.action)
            body = error_response(None, "internal_error", f"{type(exc).__name__}: {exc}; the daemon logged it "
                                  "and keeps running")
        try:
            await self.reply(self.topics.response(parsed.target, parsed.action), encode(body), message)
        except ConnectionError as exc:
            log.warning("reply to %s/%s lost: %s", parsed.target, parsed.action, exc)

    async def answer(self, target_id: str, action: str, payload: bytes) -> Response:
        if len(payload) > limits.MAX_REQUEST_BYTES:
            return error_response(None, "too_large", f"the request is {len(payload)} bytes; the limit is "
                                  f"{limits.MAX_REQUEST_BYTES} bytes")
        try:
            args = limits.loads(payload) if payload else {}
        except limits.JsonTooDeep as exc:
            return error_response(None, "bad_json", f"the request is {exc}")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            return error_response(None, "bad_json", f"the request is not valid UTF-8 JSON: {exc}")
        if not isinstance(args, dict):
            return error_response(None, "bad_request",
                                  f"the request must be a JSON object, not {type(args).__name__}")
        transaction = args.pop("transaction", None)
        target = self.resolve(target_id)
        if target is None:
            return error_response(transaction, "unknown_device",
                                  f"no device {target_id!r} in this classroom")
        try:
            async with asyncio.timeout(self.timeout_s):
                data = await target.request(action, args)
        except RequestError as exc:
            log.info("request %s/%s refused: %s: %s", target_id, action, exc.code, exc.message)
            return error_response(transaction, exc.code, exc.message, exc.details)
        except TimeoutError:
            return error_response(transaction, "timeout",
                                  f"{target_id} did not finish {action!r} within {self.timeout_s:g}s")
        except Exception as exc:
            log.exception("request %s/%s failed", target_id, action)
            return error_response(transaction, "internal_error",
                                  f"{type(exc).__name__}: {exc}; the daemon logged it and keeps running")
        return Response(status="ok", transaction=transaction, data=dict(data))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
