"""Capture-to-board latency over MQTT, and the board's memory after 1,000 pushes.

Run: .venv/bin/python bench/push_latency.py [N]   (default 100 capture-and-shows)

The real demo daemon runs as a subprocess (`classroomd run --demo` on an
embedded broker); the lesson board is the real page in a headless Chromium.
Phase 1 sends the agent's `capture_and_show` (scope-1 -> panel-1) N times,
one after another, through `classroomd.bus.rpc.Remote`, the client the CLI
uses. The round trip is timed from the moment the request is handed to the
MQTT client to the moment its reply is back; the panel replies only after the
board acknowledged the still as painted, so this is "capture -> on screen" as a
teacher sees it, plus one broker hop each way. The first request wakes the demo
panel from standby (half a second of boot), so it is also printed on its own.
The demo's globe is left as it is: it touches a random country every 6 s and
pushes that country's card to panel-1 too, as in a real lesson; the bench
counts those shows (from the gaps in the board's show ids) instead of hiding them.
Phase 2 pushes 1,000 more items (text, print and country cards, and the
captures of phase 1 again) and compares the board's JS heap and DOM nodes
(after forced garbage collection) and the daemon's RSS before, halfway and after.
The renderers' private memory is printed twice: as found, which swings by
hundreds of MB with Chromium's picture caches, and after those caches were
purged by a simulated memory-pressure signal, which is the one to compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from benchnet import free_port
from paho.mqtt.properties import Properties
from playwright.async_api import Browser, CDPSession, Page, async_playwright

from classroomd.bus.rpc import Remote

CHROMIUM = "/usr/bin/chromium"
PANEL = "panel-1"
SCOPE = "scope-1"
EXTRA_PUSHES = 1000
REQUEST_TIMEOUT_S = 15.0
MB = 2**20


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile: with 100 samples p99 is the 99th value, not an interpolation."""
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"p50 {percentile(ordered, 0.50):7.1f}  p95 {percentile(ordered, 0.95):7.1f}  "
            f"p99 {percentile(ordered, 0.99):7.1f}  max {ordered[-1]:7.1f} ms")


class TimedRemote:
    """A `Remote` whose requests are timed from the PUBLISH, not from the call.

    `Remote.request` first resolves the classroom and sleeps 50 ms so its reply
    subscription is in place before the request goes out; that is client set-up,
    not the time the daemon and the board take, so the clock starts when the
    request is handed to the MQTT client instead.
    """

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self._sent_at = 0.0
        original = remote.client.publish

        async def publish(topic: str, payload: bytes | str, qos: int = 1, retain: bool = False,
                          properties: Properties | None = None) -> None:
            self._sent_at = time.perf_counter()
            await original(topic, payload, qos=qos, retain=retain, properties=properties)

        remote.client.publish = publish

    async def request(self, target: str, action: str, args: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """(milliseconds from PUBLISH to reply, the reply's data); requests must not overlap."""
        reply = await self.remote.request(target, action, args, timeout=REQUEST_TIMEOUT_S)
        return (time.perf_counter() - self._sent_at) * 1000, reply


# --- the daemon -----------------------------------------------------------------------------------
async def wait_ready(http_base: str, devices: tuple[str, ...], timeout: float = 60.0) -> None:
    """Until the devices the bench drives are up: the HTTP port opens before the supervisor has them."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, OSError, ValueError):
                async with http.get(f"{http_base}/api/v1/devices") as response:
                    status = {d["id"]: d.get("status") for d in await response.json()}
                    last = json.dumps({d: status.get(d) for d in devices})
                    if all(status.get(d) == "ready" for d in devices):
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"the demo daemon's devices are not ready after {timeout:g}s: {last}")


def stop_daemon(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGINT, as Ctrl+C would, so the agent publishes offline and closes its outbox; kill only if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return None


# --- the board ------------------------------------------------------------------------------------
def renderer_uss(browser_pid: int | None) -> int:
    """Private memory (USS) of Chromium's renderers: decoded pictures live there, outside the JS heap.

    USS, not RSS: renderers share most of their pages, and a sum of RSS would count those thrice.
    Chromium keeps a spare renderer or two beside the board's; they idle, so the sum moves with the board.
    """
    if browser_pid is None:
        return 0
    total = 0
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(browser_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "--type=renderer" in child.cmdline():
                    total += child.memory_full_info().uss
    return total


def chromium_pid() -> int | None:
    """The browser process Playwright launched: our Chromium descendant that is no helper (no --type=)."""
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmd = child.cmdline()
            # /usr/bin/chromium is Debian's wrapper script; it execs /usr/lib/chromium/chromium.
            if cmd and cmd[0].endswith("/chromium") and not any(a.startswith("--type=") for a in cmd):
                return int(child.pid)
    return None


async def board_memory(cdp: CDPSession, page: Page, browser_pid: int | None) -> dict[str, float]:
    # Garbage is collected twice: the first pass can leave objects whose finalisers free more.
    for _ in range(2):
        await cdp.send("HeapProfiler.collectGarbage")
    heap = await cdp.send("Runtime.getHeapUsage")
    # Memory.getDOMCounters counts every node the renderer still holds, detached ones included,
    # which is what a leak would show as; the live tree count is printed beside it.
    counters = await cdp.send("Memory.getDOMCounters")
    live = await page.evaluate("document.getElementsByTagName('*').length")
    renderer = renderer_uss(browser_pid)
    # Chromium keeps decoded pictures and fetched resources in caches it trims only under pressure,
    # so renderer memory alone cannot tell a cache from a leak; a simulated critical memory
    # pressure makes it drop those caches, and what is left afterwards is what the board holds.
    await cdp.send("Memory.simulatePressureNotification", {"level": "critical"})
    await asyncio.sleep(1.0)
    return {"heap": float(heap["usedSize"]), "nodes": float(counters["nodes"]),
            "listeners": float(counters["jsEventListeners"]), "live": float(live),
            "renderer": float(renderer), "purged": float(renderer_uss(browser_pid))}


def extra_item(i: int, media: list[str]) -> dict[str, Any]:
    """Every shape the board draws, in turn: a still (a new <img> each time), and the three card types."""
    kind = i % 4
    if kind == 0 and media:
        return {"media": media[(i // 4) % len(media)]}
    if kind == 1:
        return {"card": {"type": "print", "name": {"kk": "Жасуша моделі", "ru": "Модель клетки",
                                                  "en": "Cell model"},
                         "progress": (i % 100) / 100, "eta_s": 600 - i % 600, "printer": "Prusa MK4"}}
    if kind == 2:
        return {"card": {"type": "country", "code": "KZ",
                         "name": {"kk": "Қазақстан", "ru": "Казахстан", "en": "Kazakhstan"},
                         "capital": {"kk": "Астана", "ru": "Астана", "en": "Astana"}}}
    return {"card": {"type": "text", "title": f"Тапсырма {i}", "text": "Микроскоппен жасушаны қараңыз."}}


def other_shows(ids: list[int]) -> int:
    """Shows the board hub numbered between ours: someone else pushed (the demo globe's country cards)."""
    ordered = sorted(ids)
    return sum(b - a - 1 for a, b in itertools.pairwise(ordered))


async def board_check(page: Page, last_id: int | None) -> str:
    """Whether the board's last painted show is our last push; read once, never waited for."""
    shown = await page.evaluate("document.getElementById('stage').dataset.showId || ''")
    if last_id is not None and shown == str(last_id):
        return "yes"
    return f"no: it shows show {shown or '-'}, ours was {last_id} (another pusher came after)"


def board_id(reply: dict[str, Any]) -> int | None:
    ack = reply.get("board")
    return int(ack["id"]) if isinstance(ack, dict) and isinstance(ack.get("id"), int) else None


def delta(before: float, after: float, scale: float = 1.0, unit: str = "") -> str:
    """before -> after with the change; counts print as integers, sizes with two decimals."""
    change = after - before
    pct = f"{100 * change / before:+.1f} %" if before else "n/a"
    digits = 2 if unit else 0
    unit = f" {unit}" if unit else ""
    return (f"{before / scale:8.{digits}f} -> {after / scale:8.{digits}f}{unit} "
            f"({change / scale:+.{digits}f}{unit}, {pct})")


# --- the run --------------------------------------------------------------------------------------
async def measure(n: int, broker_url: str, http_base: str, daemon: psutil.Process) -> None:
    await wait_ready(http_base, (PANEL, SCOPE))
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            browser_pid = chromium_pid()
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(f"{http_base}/board?panel={PANEL}")
            await page.wait_for_selector("body[data-connected='1']")
            cdp = await page.context.new_cdp_session(page)
            async with Remote.for_url(broker_url) as remote:
                await remote.topics()  # find the classroom once, outside the timed requests
                timed = TimedRemote(remote)
                media = await latency_phase(timed, page, n)
                await memory_phase(timed, page, cdp, daemon, browser_pid, media)
        finally:
            await browser.close()


async def latency_phase(timed: TimedRemote, page: Page, n: int) -> list[str]:
    round_trips: list[float] = []
    capture_ms: list[float] = []
    show_ms: list[float] = []
    media: list[str] = []
    ids: list[int] = []
    errors: dict[str, int] = {}
    started = time.monotonic()
    for _ in range(n):
        try:
            ms, reply = await timed.request("agent", "capture_and_show", {"microscope": SCOPE, "panel": PANEL})
        except Exception as exc:  # a failed push is counted, not fatal: the rest still measure
            code = str(getattr(exc, "code", type(exc).__name__))
            errors[code] = errors.get(code, 0) + 1
            continue
        round_trips.append(ms)
        media.append(str(reply.get("media_id")))
        if (show := board_id(reply)) is not None:
            ids.append(show)
        timings = reply.get("timings_ms") or {}
        if "capture" in timings and "show" in timings:
            capture_ms.append(float(timings["capture"]))
            show_ms.append(float(timings["show"]))
    elapsed = time.monotonic() - started
    print(f"capture_and_show {SCOPE} -> {PANEL}: {len(round_trips)}/{n} ok in {elapsed:.1f} s"
          + (f", errors {errors}" if errors else ""))
    if not round_trips:
        return media
    print(f"  round trip (PUBLISH -> reply, board-acknowledged): {summary(round_trips)}"
          f"   target p99 < 1000 ms")
    print(f"    first request (wakes the panel from standby): {round_trips[0]:.1f} ms")
    if len(round_trips) > 1:
        print(f"    without the first:                             {summary(round_trips[1:])}")
    if capture_ms:
        print(f"  daemon-side capture:                              {summary(capture_ms)}")
        print(f"  daemon-side show (power, input, board ack):       {summary(show_ms)}")
    print(f"  other shows on {PANEL} meanwhile (demo globe's country cards): {other_shows(ids)}")
    print(f"  board shows the last capture: {await board_check(page, ids[-1] if ids else None)}")
    return media


async def memory_phase(timed: TimedRemote, page: Page, cdp: CDPSession, daemon: psutil.Process,
                       browser_pid: int | None, media: list[str]) -> None:
    samples: dict[str, tuple[dict[str, float], int]] = {}

    async def sample(label: str) -> None:
        samples[label] = (await board_memory(cdp, page, browser_pid), daemon.memory_info().rss)

    await sample("before")
    round_trips: list[float] = []
    ids: list[int] = []
    errors: dict[str, int] = {}
    started = time.monotonic()
    for i in range(EXTRA_PUSHES):
        try:
            ms, reply = await timed.request(PANEL, "show", extra_item(i, media))
        except Exception as exc:
            code = str(getattr(exc, "code", type(exc).__name__))
            errors[code] = errors.get(code, 0) + 1
            continue
        round_trips.append(ms)
        if (show := board_id(reply)) is not None:
            ids.append(show)
        if i + 1 == EXTRA_PUSHES // 2:
            await sample("halfway")
    elapsed = time.monotonic() - started
    await sample("after")
    print(f"\n{EXTRA_PUSHES} more pushes to {PANEL} (stills and print/country/text cards): "
          f"{len(round_trips)} ok in {elapsed:.1f} s" + (f", errors {errors}" if errors else ""))
    if round_trips:
        print(f"  show round trip:  {summary(round_trips)}")
    print(f"  other shows on {PANEL} meanwhile (demo globe's country cards): {other_shows(ids)}")
    print(f"  board shows the last push: {await board_check(page, ids[-1] if ids else None)}")
    before, _ = samples["before"]
    after, _ = samples["after"]
    halfway = samples.get("halfway", samples["after"])[0]
    print("  board page, after forced GC                     target: flat after 1,000 pushes")
    print(f"    JS heap used                    {delta(before['heap'], after['heap'], MB, 'MB')}"
          f"   halfway {halfway['heap'] / MB:.2f} MB")
    print(f"    DOM nodes held by the renderer  {delta(before['nodes'], after['nodes'])}"
          f"   halfway {halfway['nodes']:.0f}")
    print(f"    DOM elements in the document    {delta(before['live'], after['live'])}")
    print(f"    JS event listeners              {delta(before['listeners'], after['listeners'])}")
    if before["renderer"]:
        print(f"    renderers' USS, caches included {delta(before['renderer'], after['renderer'], MB, 'MB')}"
              f"   halfway {halfway['renderer'] / MB:.2f} MB")
        print(f"    renderers' USS, caches purged   {delta(before['purged'], after['purged'], MB, 'MB')}"
              f"   halfway {halfway['purged'] / MB:.2f} MB")
    rss = {label: value for label, (_, value) in samples.items()}
    print(f"  daemon RSS                        {delta(rss['before'], rss['after'], MB, 'MB')}"
          f"   halfway {rss.get('halfway', rss['after']) / MB:.2f} MB")


def terminated(_signum: int, _frame: object) -> None:
    """SIGTERM unwinds like an error, so the `finally` below still stops the daemon."""
    raise SystemExit(143)


def main() -> None:
    signal.signal(signal.SIGTERM, terminated)
    # The MQTT client logs its own orderly disconnect at close as a warning; it is not news here.
    logging.getLogger("classroomd.bus").setLevel(logging.ERROR)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(f'[agent]\nstate_dir = "{tmp}/state"\n')
        broker_url = f"embedded://127.0.0.1:{free_port()}"  # embedded://: the client speaks 3.1.1 at once
        http_port = free_port()
        log_path = Path(tmp) / "daemon.log"
        cmd = [sys.executable, "-m", "classroomd", "run", "--demo", "--config", str(config),
               "--broker", broker_url, "--http", f"127.0.0.1:{http_port}", "--log-level", "WARNING"]
        started = time.monotonic()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            code: int | None = None
            try:
                asyncio.run(measure(n, broker_url, f"http://127.0.0.1:{http_port}", psutil.Process(proc.pid)))
            finally:
                code = stop_daemon(proc)
                text = log_path.read_text(errors="replace")
                print(f"\ndaemon stopped with SIGINT: exit {code if code is not None else 'killed'}; "
                      f"log: {'Traceback present' if 'Traceback' in text else 'no tracebacks'}; "
                      f"total bench time {time.monotonic() - started:.0f} s")
                if code != 0 or "Traceback" in text:
                    print("--- daemon log (last 40 lines) ---")
                    print("\n".join(text.splitlines()[-40:]))


if __name__ == "__main__":
    main()
