"""Who may act from the pages: the classroom PIN (teachers) and the engineer's secret, as session cookies.

The pages are open to anyone on the classroom LAN, so a PIN is all that stands between a pupil's phone
and the panel: wrong guesses are counted per client address and locked out for a while, and a session
is a random cookie, never the PIN itself.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from classroomd.config.schema import Config
from classroomd.web.context import WebContext, context

TEACHER_COOKIE = "classroomd_teacher"
ENGINEER_COOKIE = "classroomd_engineer"
SESSION_S = 12 * 3600  # a school day: the PIN is typed once in the morning
MAX_FAILURES = 5  # per address, within FAILURE_WINDOW_S
FAILURE_WINDOW_S = 300.0
LOCKOUT_S = 60.0


def config_of(ctx: WebContext) -> Config | None:
    """The agent's config; WebContext does not promise one (test hosts have none)."""
    config = getattr(ctx, "config", None)
    return config if isinstance(config, Config) else None


@dataclass
class Limiter:
    """Wrong secrets per client address; a locked address is refused before its secret is even compared."""

    clock: Callable[[], float] = time.monotonic
    failures: dict[str, list[float]] = field(default_factory=dict)
    locked_until: dict[str, float] = field(default_factory=dict)

    def retry_after(self, address: str) -> float:
        return max(0.0, self.locked_until.get(address, 0.0) - self.clock())

    def failed(self, address: str) -> None:
        now = self.clock()
        recent = [t for t in self.failures.get(address, []) if now - t < FAILURE_WINDOW_S] + [now]
        self.failures[address] = recent
        if len(recent) >= MAX_FAILURES:
            self.locked_until[address] = now + LOCKOUT_S
            self.failures[address] = []

    def succeeded(self, address: str) -> None:
        self.failures.pop(address, None)


@dataclass
class Gate:
    limiter: Limiter = field(default_factory=Limiter)
    sessions: dict[str, tuple[str, float]] = field(default_factory=dict)  # cookie -> (role, expiry)

    def open_session(self, role: str) -> str:
        now = time.monotonic()
        self.sessions = {k: v for k, v in self.sessions.items() if v[1] > now}
        cookie = secrets.token_urlsafe(24)
        self.sessions[cookie] = (role, now + SESSION_S)
        return cookie

    def role(self, cookie: str | None) -> str | None:
        found = self.sessions.get(cookie or "")
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]


# One gate per server, not per module: two servers in one process (tests) must not share sessions. Kept
# beside the application rather than in it: a started application's state is frozen.
_GATES: weakref.WeakKeyDictionary[web.Application, Gate] = weakref.WeakKeyDictionary()


def gate(request: web.Request) -> Gate:
    found = _GATES.get(request.app)
    if found is None:
        found = _GATES[request.app] = Gate()
    return found


def _address(request: web.Request) -> str:
    return request.remote or "?"


def _equal(given: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), (expected or "").encode())


def _has_token(request: web.Request) -> bool:
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return _equal(given, context(request).token)


def pin_required(ctx: WebContext) -> bool:
    config = config_of(ctx)
    return bool(config and config.http.pin)


def is_teacher(request: web.Request) -> bool:
    if not pin_required(context(request)) or _has_token(request):
        return True
    return gate(request).role(request.cookies.get(TEACHER_COOKIE)) in ("teacher", "engineer") or is_engineer(request)


def is_engineer(request: web.Request) -> bool:
    return _has_token(request) or gate(request).role(request.cookies.get(ENGINEER_COOKIE)) == "engineer"


def _refusal(status: int, code: str, message: str, retry_after: float | None = None) -> web.HTTPException:
    body: dict[str, Any] = {"code": code, "message": message}
    if retry_after is not None:
        body["retry_after"] = int(retry_after) + 1
    error = web.HTTPException(text=json.dumps({"error": body}), content_type="application/json")
    error.set_status(status)
    if retry_after is not None:
        error.headers["Retry-After"] = str(body["retry_after"])
    return error


def require_teacher(request: web.Request) -> None:
    if not is_teacher(request):
        raise _refusal(401, "pin_required", "enter the classroom PIN first")


def require_engineer(request: web.Request) -> None:
    if not is_engineer(request):
        raise _refusal(401, "engineer_required", "sign in with the daemon's token or the engineer password")


def check_secret(request: web.Request, given: str, role: str) -> str:
    """Compare a typed PIN or password; returns a new session cookie or raises 401/429."""
    limiter = gate(request).limiter
    address = _address(request)
    wait = limiter.retry_after(address)
    if wait > 0:
        raise _refusal(429, "too_many_attempts", "too many wrong attempts; wait and try again", wait)
    config = config_of(context(request))
    if role == "teacher":
        ok = _equal(given, config.http.pin if config else None)
    else:
        ok = _equal(given, context(request).token) or _equal(given, config.http.engineer_password if config else None)
    if not ok:
        limiter.failed(address)
        wait = limiter.retry_after(address)
        if wait > 0:
            raise _refusal(429, "too_many_attempts", "too many wrong attempts; wait and try again", wait)
        raise _refusal(401, "wrong_secret", "wrong PIN or password")
    limiter.succeeded(address)
    return gate(request).open_session(role)


def set_cookie(response: web.StreamResponse, name: str, value: str) -> None:
    # Strict: a page on another site cannot make a teacher's browser act on the classroom.
    response.set_cookie(name, value, max_age=SESSION_S, httponly=True, samesite="Strict", path="/")
