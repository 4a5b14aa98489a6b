"""The lesson gallery lists the lesson's own prints, by file name, and no other lesson's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from classroomd.daemon.agent import Agent
from classroomd.simulators.marlin_firmware import MarlinSimulator
from tests.printer.support import moves, write_gcode
from tests.printer.test_end_to_end import ROOT, classroom, http_upload, request
from tests.support.probe import Probe

__all__ = ["classroom"]  # the fixture, imported so pytest finds it here


async def _print_to_the_end(probe: Probe, file_id: str, lesson_id: str, transaction: int) -> str:
    reply = await request(probe, "print", {"file_id": file_id, "confirm_bed_clear": True, "lesson_id": lesson_id},
                          transaction)
    assert reply["status"] == "ok", reply
    job_id: str = reply["data"]["job"]["id"]
    await asyncio.to_thread(probe.wait_topic, f"{ROOT}/printer-1/event/job_finished", 30,
                            lambda e: e["job"]["id"] == job_id)
    return job_id


async def test_gallery_shows_the_lessons_two_prints_and_not_the_other_lessons(
        classroom: tuple[Agent, Probe, MarlinSimulator], tmp_path: Path) -> None:
    agent, probe, _sim = classroom
    owl = await http_upload(agent, write_gcode(tmp_path / "owl.gcode", moves(30)))
    cell = await http_upload(agent, write_gcode(tmp_path / "cell-model.gcode", moves(30)))
    frog = await http_upload(agent, write_gcode(tmp_path / "frog.gcode", moves(30)))
    mine = {await _print_to_the_end(probe, owl["id"], "biology-7a", 1),
            await _print_to_the_end(probe, cell["id"], "biology-7a", 2)}
    other = await _print_to_the_end(probe, frog["id"], "biology-8b", 3)

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{agent.http_base}/api/v1/lessons/biology-7a") as response:
            assert response.status == 200
            prints = (await response.json())["prints"]
        async with http.get(f"{agent.http_base}/lessons/biology-7a?lang=ru") as response:
            page = await response.text()

    assert {p["id"] for p in prints} == mine and other not in {p["id"] for p in prints}
    assert {p["file_name"] for p in prints} == {"owl.gcode", "cell-model.gcode"}
    assert "owl.gcode — готово" in page and "cell-model.gcode — готово" in page
    assert "frog.gcode" not in page
