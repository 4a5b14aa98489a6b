"""Open the database by URL: SQLite (default, embedded) or PostgreSQL, through SQLAlchemy's async engines."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from classroomd.central.schema import SCHEMA_VERSION, metadata, schema_version


class DatabaseError(Exception):
    pass


def default_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / 'central.sqlite3'}"


def async_url(url: str) -> str:
    """The async driver for a plain URL: users write sqlite:///… or postgresql://…"""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise DatabaseError(f"{url!r}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the ingester writes; NORMAL sync is safe with WAL
    # (a power cut loses at most the last commits, never the file).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


async def open_database(url: str) -> AsyncEngine:
    """An engine with the schema in place (created on first use)."""
    full = async_url(url)
    kwargs: dict[str, Any] = {}
    if full.startswith("postgresql"):
        kwargs.update(pool_size=5, max_overflow=5)
    else:
        database = make_url(full).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(full, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    try:
        async with engine.begin() as conn:
            await _ensure_schema(conn)
    except DatabaseError:
        await engine.dispose()
        raise
    except (OSError, SQLAlchemyError) as exc:
        await engine.dispose()
        shown = make_url(full).render_as_string(hide_password=True)
        raise DatabaseError(f"cannot open the database {shown}: {exc}") from None
    return engine


async def _ensure_schema(conn: AsyncConnection) -> None:
    # create_all plus a version row stands in for migrations until the schema changes once.
    await conn.run_sync(metadata.create_all)
    found = (await conn.execute(select(schema_version.c.version))).scalars().all()
    if not found:
        await conn.execute(insert(schema_version).values(version=SCHEMA_VERSION, applied=time.time()))
    elif max(found) != SCHEMA_VERSION:
        raise DatabaseError(f"database schema version {max(found)}, this build knows {SCHEMA_VERSION}")
