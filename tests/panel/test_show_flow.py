"""`show` and capture-and-show against a real pty panel, a real HTTP server and WebSocket boards."""

from __future__ import annotations

import pytest

from classroomd.daemon.push import capture_and_show
from classroomd.devices.base import Lesson, RequestError, Status
from classroomd.services.board_hub import BoardHub
from classroomd.simulators.panel_smart import SmartPanelSim
from tests.panel.support import Server, WebHost, board_client, start_panel, start_scope


async def test_show_wakes_switches_then_shows_in_that_order(sim: SmartPanelSim, host: WebHost, server: Server) -> None:
    panel = await start_panel(host, sim.path)
    async with board_client(server, "panel-1") as board:
        reply = await panel.request("show", {"card": {"type": "text", "title": "Жасуша"}})
        assert [s["step"] for s in reply["steps"]] == ["power", "input", "board"]
        assert reply["steps"][0]["done"] == "switched on" and reply["steps"][1]["done"] == "switched to hdmi1"
        assert reply["board"]["kind"] == "card"
        assert board.shows[0]["content"]["card"] == {"type": "text", "title": "Жасуша"}
    set_lines = [line for line in sim.received if line.startswith("set")]
    assert set_lines == ["set powerstate=on", "set input=hdmi1"]
    assert sim.state.power == "on" and sim.state.input == "hdmi1"
    assert panel.state()["shown"] == "card"
    assert host.named("shown")[0].data["steps"][2] == {"step": "board", "done": "shown"}

    await panel.stop()


async def test_no_board_is_an_error_naming_the_step(sim: SmartPanelSim, host: WebHost, server: Server) -> None:
    panel = await start_panel(host, sim.path, board_timeout_s=0.3)
    with pytest.raises(RequestError) as failed:
        await panel.request("show", {"clear": True})
    assert failed.value.code == "board_not_connected"
    assert failed.value.message.startswith("step board:") and "/board?panel=panel-1" in failed.value.message
    assert [s["step"] for s in failed.value.details["done"]] == ["power", "input"]
    await panel.stop()


async def test_a_board_that_refuses_or_stays_silent(host: WebHost, server: Server) -> None:
    panel = await start_panel(host, None, board_timeout_s=0.5)
    async with board_client(server, "panel-1", refuse="image failed") as board:
        with pytest.raises(RequestError) as refused:
            await panel.request("show", {"clear": True})
        assert refused.value.code == "board_failed" and "image failed" in refused.value.message
        board.refuse, board.silent = None, True
        with pytest.raises(RequestError) as silent:
            await panel.request("show", {"clear": True})
        assert silent.value.code == "board_timeout" and "step board" in silent.value.message


async def test_a_panel_that_refuses_power_stops_at_the_power_step(
        sim: SmartPanelSim, host: WebHost, server: Server) -> None:
    panel = await start_panel(host, sim.path)
    sim.refuse_power_on = True
    async with board_client(server, "panel-1") as board:
        with pytest.raises(RequestError) as failed:
            await panel.request("show", {"clear": True})
        assert failed.value.code == "panel_power_failed" and failed.value.message.startswith("step power:")
        assert "invalid cmd" in failed.value.message
        assert board.shows == []
    assert not any(line.startswith("set input") for line in sim.received)
    await panel.stop()


async def test_a_silent_panel_fails_the_power_step_and_goes_fault(
        sim: SmartPanelSim, host: WebHost, server: Server) -> None:
    panel = await start_panel(host, sim.path)
    sim.responsive = False
    with pytest.raises(RequestError) as failed:
        await panel.request("show", {"clear": True})
    assert failed.value.details == {"step": "power"} and "no reply" in failed.value.message
    assert panel.status is Status.FAULT and ("panel-1", "not_responding") in host.alerts
    await panel.stop()


async def test_bad_content_is_refused_before_touching_the_panel(
        sim: SmartPanelSim, host: WebHost, server: Server) -> None:
    panel = await start_panel(host, sim.path)
    await start_scope(host)
    sent_before = list(sim.received)
    cases = [({"media": "20250101-000000-deadbeef"}, "unknown_media"), ({"stream": "scope-9"}, "unknown_device"),
             ({"stream": "panel-1"}, "not_a_stream"), ({"clear": True, "media": "x"}, "invalid_arguments"),
             ({}, "invalid_arguments")]
    for args, code in cases:
        with pytest.raises(RequestError) as refused:
            await panel.request("show", args)
        assert refused.value.code == code, args
    assert sim.received == sent_before
    await panel.stop()


async def test_capture_and_show_tags_the_lesson(host: WebHost, server: Server) -> None:
    host.current_lesson = Lesson(id="bio-7a", subject="Биология", teacher="Айгүл")
    await start_panel(host, None)
    await start_scope(host, um_per_px=1.5)
    async with board_client(server, "panel-1") as board:
        reply = await capture_and_show(host, "scope-1", "panel-1")
    media_id = reply["media_id"]
    content = board.shows[0]["content"]
    assert content["kind"] == "media" and content["media"] == media_id and content["url"] == f"/media/{media_id}"
    assert content["um_per_px"] == 1.5 and content["lesson"] == "bio-7a"
    assert host.media.get(media_id).meta["lesson"] == "bio-7a"
    assert set(reply["timings_ms"]) == {"capture", "show"}


async def test_capture_and_show_errors_name_the_step(host: WebHost, server: Server) -> None:
    await start_panel(host, None)
    await start_scope(host)
    with pytest.raises(RequestError) as wrong:
        await capture_and_show(host, "panel-1", "scope-1")
    assert wrong.value.code == "wrong_kind"
    with pytest.raises(RequestError) as no_board:
        await capture_and_show(host, "scope-1", "panel-1")
    assert no_board.value.code == "board_not_connected" and no_board.value.details["step"] == "board"
    assert no_board.value.details["media_id"] in no_board.value.message  # the capture is not lost


async def test_the_last_content_survives_a_restart_and_is_sent_on_connect(host: WebHost, server: Server) -> None:
    panel = await start_panel(host, None)
    async with board_client(server, "panel-1"):
        await panel.request("show", {"card": {"type": "country", "code": "KZ"}})
    reopened = BoardHub(host.root / "board")
    current = reopened.current("panel-1")
    assert current is not None and current["card"]["code"] == "KZ"
    async with board_client(server, "panel-1") as again:
        assert again.hello is not None and again.hello["content"]["card"]["code"] == "KZ"
    await host.wait_for(lambda: host.board.connected("panel-1") == 0)
    assert host.board.send("panel-1", {"type": "ink", "strokes": []}) == 0


async def test_lesson_gallery_lists_the_lessons_captures(host: WebHost, server: Server) -> None:
    from aiohttp import ClientSession

    scope = await start_scope(host)
    host.current_lesson = Lesson(id="bio-7a", subject="Биология", teacher="Айгүл")
    ours = [(await scope.request("capture", {}))["media_id"] for _ in range(2)]
    host.current_lesson = Lesson(id="chem-8b")
    other = (await scope.request("capture", {}))["media_id"]
    async with ClientSession() as http:
        async with http.get(f"{server.url}/api/v1/lessons/bio-7a") as response:
            data = await response.json()
        async with http.get(f"{server.url}/lessons/bio-7a?lang=ru") as response:
            page = await response.text()
            assert response.status == 200
        async with http.get(f"{server.url}{data['media'][0]['thumb_url']}") as thumb:
            assert thumb.status == 200 and (await thumb.read())[:2] == b"\xff\xd8"
    assert [m["id"] for m in data["media"]] == ours
    assert all(f"/media/{m}/thumb" in page for m in ours) and other not in page
    assert "Снимки" in page


async def test_board_page_language_and_bad_urls(host: WebHost, server: Server) -> None:
    from aiohttp import ClientSession

    await start_panel(host, None, language="ru")
    async with ClientSession() as http:
        async with http.get(f"{server.url}/board?panel=panel-1") as response:
            assert response.status == 200 and 'data-lang="ru"' in await response.text()
        async with http.get(f"{server.url}/board?panel=panel-1&lang=en") as response:
            assert '<html lang="en">' in await response.text()
        async with http.get(f"{server.url}/board") as response:
            assert response.status == 400 and "?panel=" in (await response.json())["error"]["message"]
        async with http.get(f"{server.url}/board/static/board.js") as response:
            assert response.status == 200 and "WebSocket" in await response.text()
        async with http.get(f"{server.url}/board/static/secrets.txt") as response:
            assert response.status == 404
    assert host.devices["panel-1"].state()["board_url"] == f"{server.url}/board?panel=panel-1&lang=ru"
