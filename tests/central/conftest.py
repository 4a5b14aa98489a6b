from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import async_playwright

from tests.central.harness import Central
from tests.central.postgres import PostgresServer
from tests.support.mosquitto import Mosquitto

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's headless Chromium, for the dashboard's tests."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_db(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Awaitable[str]]:
    """Makes empty databases of one engine; the same scenarios run on both."""

    async def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / name}.sqlite3"
        server: PostgresServer = request.getfixturevalue("postgres_server")
        conn = await asyncpg.connect(server.url("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return server.url(name)

    return make


@pytest.fixture
async def db_url(new_db: Callable[[], Awaitable[str]]) -> str:
    return await new_db()


@pytest.fixture
async def central(mosquitto: Mosquitto, db_url: str, tmp_path: Path) -> AsyncIterator[Central]:
    server = Central(mosquitto.url, db_url, tmp_path / "central-state")
    await server.start()
    try:
        yield server
    finally:
        await server.close()
