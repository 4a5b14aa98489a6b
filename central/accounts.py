"""People's accounts for the dashboard: roles, hashed passwords, sessions.

Passwords are hashed with scrypt from the standard library (OpenSSL's): memory-hard, needs no
new dependency on a district server, and argon2-cffi is only here as something else's
dependency, which a packager could drop. Sessions live in the database so that any number of
API processes accept the same cookie. Machines keep using the API token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Column, Float, MetaData, String, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

ROLES = ("viewer", "engineer", "admin")
#: 16 MiB and about 50 ms per try on a small server: slow for a guesser, quick for a person
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SESSION_S = 14 * 86400

# A metadata of its own: the tables are created when the dashboard starts, and the ingest
# schema (and its version) stays as it is.
metadata = MetaData()
accounts = Table(
    "accounts", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password", String(256), nullable=False),
    Column("created", Float, nullable=False),
)
sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("expires", Float, nullable=False),
)


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    name: str
    role: str

    @property
    def can_ack(self) -> bool:
        return self.role in ("engineer", "admin")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        # The parameters come from the stored hash, so a later, stronger setting keeps old ones valid.
        given = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(given, base64.b64decode(digest))


async def ensure_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def set_account(engine: AsyncEngine, name: str, role: str, password: str) -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    if not name or len(name) > 64:
        raise AccountError("the name must be 1 to 64 characters")
    if len(password) < 8:
        raise AccountError("the password must be at least 8 characters")
    hashed = hash_password(password)
    async with engine.begin() as conn:
        await conn.execute(delete(accounts).where(accounts.c.name == name))
        await conn.execute(accounts.insert().values(name=name, role=role, password=hashed, created=time.time()))
        # A new password ends the account's old sessions.
        await conn.execute(delete(sessions).where(sessions.c.name == name))


async def login(engine: AsyncEngine, name: str, password: str) -> str | None:
    """A new session token, or None when the name or password is wrong."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(accounts.c.password).where(accounts.c.name == name))).first()
    # Hash even for an unknown name, so the answer's time does not tell which names exist.
    ok = check_password(password, row[0] if row else hash_password("-"))
    if row is None or not ok:
        return None
    token = secrets.token_urlsafe(32)
    now = time.time()
    async with engine.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.expires < now))
        await conn.execute(sessions.insert().values(token_hash=_digest(token), name=name, expires=now + SESSION_S))
    return token


async def session(engine: AsyncEngine, token: str | None) -> Account | None:
    if not token:
        return None
    query = (select(accounts.c.name, accounts.c.role).join(sessions, sessions.c.name == accounts.c.name)
             .where(sessions.c.token_hash == _digest(token), sessions.c.expires > time.time()))
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return Account(row[0], row[1]) if row else None


async def logout(engine: AsyncEngine, token: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(sessions).where(sessions.c.token_hash == _digest(token)))


#: the stored "hash" of a disabled account: no password matches it (not even an empty one)
DISABLED = "!disabled"


@dataclass(frozen=True)
class AccountRow:
    name: str
    role: str
    created: float
    disabled: bool


async def listing(engine: AsyncEngine) -> list[AccountRow]:
    query = select(accounts.c.name, accounts.c.role, accounts.c.created, accounts.c.password).order_by(
        accounts.c.name)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [AccountRow(name, role, created, password == DISABLED) for name, role, created, password in rows]


async def exists(engine: AsyncEngine, name: str) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(select(accounts.c.name).where(accounts.c.name == name))).first() is not None


async def set_role(engine: AsyncEngine, name: str, role: str) -> None:
    """Takes effect at the account's next page: a session reads the role each time."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)} (got {role!r})")
    async with engine.begin() as conn:
        await conn.execute(accounts.update().where(accounts.c.name == name).values(role=role))


async def set_password(engine: AsyncEngine, name: str, password: str) -> None:
    if len(password) < 8:
        raise AccountError("the password must be at least 8 characters")
    await _replace_password(engine, name, hash_password(password))


async def disable(engine: AsyncEngine, name: str) -> None:
    """No more sign-ins and no open session; the name and role stay, a new password enables it again."""
    await _replace_password(engine, name, DISABLED)


async def _replace_password(engine: AsyncEngine, name: str, stored: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(accounts.update().where(accounts.c.name == name).values(password=stored))
        await conn.execute(delete(sessions).where(sessions.c.name == name))


def _digest(token: str) -> str:
    # Only the token's hash is stored: a copy of the database does not hand out live sessions.
    return hashlib.sha256(token.encode()).hexdigest()
