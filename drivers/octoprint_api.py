"""OctoPrint's REST API, as far as a classroom needs it: connect, upload, print, pause, cancel, state.

OctoPrint keeps the printer's serial link and streams the file itself, so a print it
runs goes on while the classroom PC is off; the daemon only asks. Every call carries
the API key (`X-Api-Key`); OctoPrint answers a wrong one with 403, which is reported
in words a teacher's technician can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp


class OctoPrintError(Exception):
    """A call failed; `refused` says the server answered but would not (key, permission), so a retry won't help."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass
class JobStatus:
    """`GET /api/job`: what OctoPrint is doing and with which file."""

    state: str
    path: str | None
    completion: float | None
    time_left_s: float | None

    @property
    def active(self) -> bool:
        return self.state.startswith(("Printing", "Paused", "Pausing", "Resuming", "Cancelling", "Starting",
                                      "Finishing"))


class OctoPrintClient:
    def __init__(self, url: str, api_key: str, timeout_s: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"X-Api-Key": self._api_key}, timeout=self._timeout)
        return self._session

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            async with self._http().request(method, self.url + path, **kwargs) as response:
                if response.status in (401, 403):
                    raise OctoPrintError(
                        f"OctoPrint at {self.url} refused the API key (HTTP {response.status}): check `api_key` in "
                        "the printer's [[devices]] entry (OctoPrint: Settings → Application Keys)", refused=True)
                if response.status == 409:
                    raise OctoPrintError(f"OctoPrint at {self.url} cannot do that now: {await _reason(response)}")
                if response.status >= 400:
                    raise OctoPrintError(f"OctoPrint at {self.url} answered {method} {path} with HTTP "
                                         f"{response.status}: {await _reason(response)}")
                if response.status == 204 or response.content_length == 0:
                    return None
                return await response.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise OctoPrintError(f"cannot reach OctoPrint at {self.url}: {exc}") from exc
        except TimeoutError as exc:
            raise OctoPrintError(f"OctoPrint at {self.url} did not answer in time") from exc

    async def version(self) -> str:
        reply = await self._call("GET", "/api/version")
        return str(reply.get("text", "OctoPrint"))

    async def connection_state(self) -> str:
        reply = await self._call("GET", "/api/connection")
        return str(reply["current"]["state"])

    async def connect(self) -> None:
        """Ask OctoPrint to open its printer with its own saved port and baud rate."""
        await self._call("POST", "/api/connection", json={"command": "connect", "autoconnect": True})

    async def printer(self) -> dict[str, Any] | None:
        """State flags and temperatures; None while OctoPrint has no printer connected."""
        try:
            reply: dict[str, Any] = await self._call("GET", "/api/printer")
        except OctoPrintError as exc:
            if exc.refused or "cannot do that now" not in str(exc):
                raise
            return None
        return reply

    async def job(self) -> JobStatus:
        reply = await self._call("GET", "/api/job")
        progress = reply.get("progress") or {}
        file = (reply.get("job") or {}).get("file") or {}
        return JobStatus(state=str(reply.get("state", "")), path=file.get("path"),
                         completion=progress.get("completion"), time_left_s=progress.get("printTimeLeft"))

    async def upload(self, path: Path, name: str) -> str:
        """Store a file on OctoPrint; returns its path there."""
        form = aiohttp.FormData()
        with path.open("rb") as handle:
            form.add_field("file", handle, filename=name, content_type="application/octet-stream")
            reply = await self._call("POST", "/api/files/local", data=form)
        return str(reply["files"]["local"]["path"])

    async def last_print(self, remote: str) -> dict[str, Any] | None:
        """The file's last print as OctoPrint recorded it: `{"date", "success", "printTime"}`."""
        reply = await self._call("GET", f"/api/files/local/{remote}")
        last = ((reply or {}).get("prints") or {}).get("last")
        return last if isinstance(last, dict) else None

    async def start(self, remote: str) -> None:
        await self._call("POST", f"/api/files/local/{remote}", json={"command": "select", "print": True})

    async def pause(self) -> None:
        await self._call("POST", "/api/job", json={"command": "pause", "action": "pause"})

    async def resume(self) -> None:
        await self._call("POST", "/api/job", json={"command": "pause", "action": "resume"})

    async def cancel(self) -> None:
        await self._call("POST", "/api/job", json={"command": "cancel"})

    async def send(self, *commands: str) -> None:
        await self._call("POST", "/api/printer/command", json={"commands": list(commands)})


async def _reason(response: aiohttp.ClientResponse) -> str:
    text = (await response.text())[:300]
    try:
        body = json.loads(text)
        return str(body.get("error", text)) if isinstance(body, dict) else text
    except ValueError:
        return text
