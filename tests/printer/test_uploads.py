"""Uploads over real HTTP: streamed to disk with size limit and sha256, and never outside their folder."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from classroomd.services.uploads import UploadStore, sanitize_name
from classroomd.web import uploads as upload_routes
from classroomd.web.context import CONTEXT

TOKEN = "test-token-123"


@dataclass
class Context:
    """The part of the daemon the upload endpoints use."""

    root: Path
    token: str = TOKEN
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def uploads(self) -> UploadStore:
        return self.services.setdefault("uploads", UploadStore(self.root / "uploads"))


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, Context]]:
    ctx = Context(tmp_path / "state")
    app = web.Application()
    app[CONTEXT] = ctx  # type: ignore[misc]
    app.add_routes(upload_routes.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", ctx
    finally:
        await runner.cleanup()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_multipart_and_raw_uploads_are_stored_with_size_and_sha256(server: tuple[str, Context]) -> None:
    base, ctx = server
    body = b"".join(f"G1 X{i} Y{i}\n".encode() for i in range(50_000))  # ~0.6 MB, more than one chunk
    async with aiohttp.ClientSession(headers=AUTH) as http:
        form = aiohttp.FormData()
        form.add_field("note", "not a file")
        form.add_field("file", body, filename="Құс ұясы.gcode", content_type="text/x-gcode")
        async with http.post(f"{base}/api/v1/uploads", data=form) as response:
            assert response.status == 201
            first = (await response.json())["file"]
        async with http.post(f"{base}/api/v1/uploads?name=vase.gcode", data=body) as response:
            assert response.status == 201
            second = (await response.json())["file"]
        async with http.get(f"{base}/api/v1/uploads") as response:
            listed = (await response.json())["files"]
    digest = hashlib.sha256(body).hexdigest()
    assert first["name"] == "Құс_ұясы.gcode" and second["name"] == "vase.gcode"
    for item in (first, second):
        assert item["size"] == len(body) and item["sha256"] == digest
        stored = ctx.uploads.get(item["id"])
        assert stored is not None and stored.path.read_bytes() == body
    assert {f["id"] for f in listed} == {first["id"], second["id"]}


@pytest.mark.parametrize("name", ["../../../../tmp/evil.gcode", "..\\..\\evil.gcode", "/etc/cron.d/evil.gcode",
                                  "....//evil.gcode", ".evil.gcode"])
async def test_names_never_reach_outside_the_upload_folder(server: tuple[str, Context], tmp_path: Path,
                                                           name: str) -> None:
    base, ctx = server
    async with aiohttp.ClientSession(headers=AUTH) as http:
        form = aiohttp.FormData()
        form.add_field("file", b"G28\n", filename=name)
        async with http.post(f"{base}/api/v1/uploads", data=form) as response:
            assert response.status == 201
            item = (await response.json())["file"]
    assert item["name"] == "evil.gcode"
    stored = ctx.uploads.get(item["id"])
    assert stored is not None
    root = (ctx.root / "uploads").resolve()
    assert stored.path.resolve().is_relative_to(root)
    assert not (tmp_path / "evil.gcode").exists() and not Path("/tmp/evil.gcode").exists()


@pytest.mark.parametrize("file_id", ["..", "../token", "..%2F..%2Ftoken", "%2e%2e", "0" * 20])
async def test_ids_that_are_not_uploads_are_not_found(server: tuple[str, Context], file_id: str) -> None:
    base, ctx = server
    (ctx.root / "token").parent.mkdir(parents=True, exist_ok=True)
    (ctx.root / "token").write_text("secret")
    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/v1/uploads/{file_id}") as response:
        assert response.status == 404
    assert ctx.uploads.get(file_id) is None


async def test_an_oversized_upload_is_refused_and_nothing_is_kept(server: tuple[str, Context],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    base, ctx = server
    monkeypatch.setattr(upload_routes, "MAX_UPLOAD_BYTES", 100_000)

    async def body() -> AsyncIterator[bytes]:  # chunked: no Content-Length to refuse early on
        for _ in range(50):
            yield b"G1 X1 Y1\n" * 1000

    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{base}/api/v1/uploads?name=big.gcode", data=body()) as response:
            assert response.status == 413
            assert (await response.json())["error"]["code"] == "too_large"
        async with http.post(f"{base}/api/v1/uploads?name=big.gcode", data=b"x" * 200_000) as response:
            assert response.status == 413
    assert list((ctx.root / "uploads").iterdir()) == []


async def test_uploading_needs_the_token(server: tuple[str, Context]) -> None:
    base, ctx = server
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/uploads?name=a.gcode", data=b"G28\n") as response:
            assert response.status == 401
        async with http.post(f"{base}/api/v1/uploads?name=a.gcode", data=b"G28\n",
                             headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 401
    assert ctx.uploads.list() == []


def test_sanitised_names() -> None:
    assert sanitize_name("../../x.gcode") == "x.gcode"
    assert sanitize_name("Бөлшек (2).gcode") == "Бөлшек__2_.gcode"
    assert sanitize_name("") == sanitize_name("..") == "upload.gcode"
    assert len(sanitize_name("a" * 500 + ".gcode")) <= 120 and sanitize_name("a" * 500 + ".gcode").endswith(".gcode")
