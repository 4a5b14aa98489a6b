"""Usage from health counters, the inventory and its CSV, availability intervals, errors."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from pathlib import Path

from pydantic import TypeAdapter

from classroomd.central import models, openapi
from classroomd.central.simulate import SimClassroom
from tests.central.harness import Central, wait_for


async def _tablet_usage(central: Central) -> float | None:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    body = await central.get(f"/api/v1/usage?from={today}&to={today}")
    for entry in body["devices"]:
        if entry["site"] == "kz-020" and entry["device"] == "tablet-1":
            return float(entry["active_min"])
    return None


async def test_usage_adds_counter_deltas_across_an_agent_restart(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-020", "lab", session=1)
    await sim.start(health_loop=False)
    sim.lesson = "lesson-1"
    for active in (1.0, 3.0, 4.5):  # the first report is the baseline
        sim.active_min = active
        await sim.publish_health()
    await wait_for(lambda: _usage_is(central, 3.5), 5, "3.5 active minutes")
    # A compact report (the district uplink's) leaves out counters that did not move, then central
    # restarts: the baseline survived both, and the next movement counts in full.
    body = sim.health_payload()
    del body["usage"]
    before = (await central.counts())["messages"]
    await sim.publish(sim.topics.health, json.dumps(body).encode(), retain=True)
    await wait_for(lambda: _handled_more(central, before), 5, "the compact report")
    await asyncio.sleep(0.1)  # committed
    await central.stop()
    await central.start()
    sim.active_min = 5.5
    await sim.publish_health()
    await wait_for(lambda: _usage_is(central, 4.5), 5, "4.5 active minutes")
    # The agent restarts: its counters start again from zero in a new session.
    await sim.stop()
    await sim.restart(new_session=True, health_loop=False)
    for active in (0.5, 2.0):
        sim.active_min = active
        await sim.publish_health()
    await wait_for(lambda: _usage_is(central, 6.5), 5, "4.5 + 2.0 active minutes")
    await sim.stop()


async def _handled_more(central: Central, before: int) -> bool:
    return (await central.counts())["messages"] > before


async def _usage_is(central: Central, expected: float) -> bool:
    got = await _tablet_usage(central)
    return got is not None and abs(got - expected) < 0.01


async def test_inventory_json_csv_and_availability_intervals(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-021", "Физика", session=1)
    await sim.start(health_loop=False)
    await central.wait_presence("kz-021", "Физика", "online")
    await sim.set_availability("tablet-1", "offline")

    async def tablet_offline() -> bool:
        items = await central.get("/api/v1/inventory")
        return any(i["id"] == "tablet-1" and i["availability"] == "offline" for i in items)

    await wait_for(tablet_offline, 5, "the tablet offline in the inventory")
    items = [i for i in await central.get("/api/v1/inventory") if i["site"] == "kz-021"]
    scope = next(i for i in items if i["id"] == "scope-1")
    assert scope["kind"] == "microscope" and scope["vendor"] == "Levenhuk" and scope["model"] == "DTX 90"
    assert scope["serial"] == "SN-kz-021-Физика-scope-1" and scope["first_seen"] and scope["last_seen"]

    assert central.http is not None
    async with central.http.get(central.base + "/api/v1/inventory.csv") as response:
        assert response.status == 200 and response.content_type == "text/csv"
        text = (await response.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["id"] for r in rows if r["room"] == "Физика"} == {"panel-front", "scope-1", "tablet-1"}

    seconds = (await central.get("/api/v1/classrooms/kz-021/Физика/availability?device=tablet-1"))["seconds"]
    assert set(seconds) == {"online", "offline"}
    await sim.stop()


async def test_bad_queries_are_answered_with_400(central: Central) -> None:
    assert central.http is not None
    for path in ("/api/v1/usage?from=yesterday", "/api/v1/alerts?limit=x",
                 "/api/v1/classrooms/a/b/availability?from=x", "/api/v1/events?to=x",
                 "/api/v1/classrooms/a/b/health?limit=many", "/api/v1/inventory/history?limit=x"):
        async with central.http.get(central.base + path) as response:
            assert response.status == 400, path
            assert (await response.json())["error"]["code"] == "bad_request"


async def test_answers_match_the_models_of_the_openapi_document(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-022", "art", session=1)
    await sim.start(health_loop=False)
    await sim.publish_health()
    await sim.publish_event()
    await sim.raise_alert("scope-1", "no_frames")
    alert = (await wait_for(lambda: central.alerts("no_frames"), 5, "an alert"))[0]
    await wait_for(lambda: central.get("/api/v1/events?site=kz-022"), 5, "the event")
    assert central.http is not None
    async with central.http.post(f"{central.base}/api/v1/alerts/{alert['id']}/ack", json={"note": "seen"},
                                 headers={"Authorization": f"Bearer {central.token}"}) as response:
        models.AlertOut.model_validate(await response.json())
    async with central.http.post(f"{central.base}/api/v1/alerts/{alert['id']}/ack", data=b"[1]",
                                 headers={"Authorization": f"Bearer {central.token}"}) as response:
        assert response.status == 400
    shapes = {"/healthz": models.HealthzOut, "/api/v1/classrooms": list[models.ClassroomOut],
              "/api/v1/alerts": list[models.AlertOut], f"/api/v1/alerts/{alert['id']}/history": list[models.AlertStep],
              "/api/v1/inventory?gone=1": list[models.InventoryItemOut], "/api/v1/usage": models.UsageOut,
              "/api/v1/classrooms/kz-022/art/availability": models.AvailabilityOut,
              "/api/v1/sites": list[models.SiteOut], "/api/v1/classrooms/kz-022/art": models.ClassroomOut,
              "/api/v1/classrooms/kz-022/art/health": list[models.HealthSample],
              "/api/v1/events?site=kz-022&device=scope-1": list[models.EventOut],
              "/api/v1/classrooms?site=kz-022": list[models.ClassroomOut]}
    for path, shape in shapes.items():
        TypeAdapter(shape).validate_python(await central.get(path))
    site = next(s for s in await central.get("/api/v1/sites") if s["site"] == "kz-022")
    assert site["presence"] == {"online": 1} and site["active_alerts"] == 1
    assert len(await central.get("/api/v1/classrooms/kz-022/art/health")) == 1
    async with central.http.get(central.base + "/api/v1/classrooms/kz-022/nowhere") as response:
        assert response.status == 404
    await sim.stop()


def test_the_openapi_document_is_current() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "central-openapi.json"
    assert doc.read_text(encoding="utf-8") == openapi.render(), \
        "docs/central-openapi.json is stale: .venv/bin/python -m classroomd.central.openapi > docs/central-openapi.json"


async def test_inventory_history_tells_replaced_gone_back_and_moved(central: Central) -> None:
    a = SimClassroom(central.broker, "kz-023", "a", session=1)
    b = SimClassroom(central.broker, "kz-023", "b", session=1)
    await a.start(health_loop=False)
    await b.start(health_loop=False)
    await central.wait_presence("kz-023", "b", "online")
    scope = {"id": "scope-1", "kind": "microscope", "name": "Microscope", "availability": "online",
             "status": "ready", "serial": "NEW-SERIAL"}
    await a.publish(a.topics.device("scope-1"), json.dumps(scope).encode(), retain=True)  # replaced
    await a.publish(a.topics.device("tablet-1"), b"", retain=True)  # unplugged for good
    # b's panel turns out to be the one a had: moved
    panel = {"id": "panel-2", "kind": "panel", "name": "Panel", "availability": "online", "status": "ready",
             "serial": "SN-kz-023-a-panel-front"}
    await b.publish(b.topics.device("panel-2"), json.dumps(panel).encode(), retain=True)
    await a.publish(a.topics.availability("tablet-1"), b"online", retain=True)  # back after all

    async def history() -> list[dict[str, object]] | None:
        found = await central.get("/api/v1/inventory/history?site=kz-023")
        return found if {c["what"] for c in found} >= {"added", "changed", "gone", "back", "moved"} else None

    changes = await wait_for(history, 5, "every kind of change")
    TypeAdapter(list[models.InventoryChange]).validate_python(changes)
    changed = next(c for c in changes if c["what"] == "changed")
    assert changed["device"] == "scope-1" and changed["detail"] == {
        "serial": ["SN-kz-023-a-scope-1", "NEW-SERIAL"]}
    moved = next(c for c in changes if c["what"] == "moved")
    assert moved["room"] == "b" and moved["detail"] == {"from": "kz-023/a/panel-front"}
    items = {(i["room"], i["id"]): i for i in await central.get("/api/v1/inventory?gone=1")
             if i["site"] == "kz-023"}
    assert items[("a", "panel-front")]["gone"] and not items[("a", "tablet-1")]["gone"]
    await a.stop()
    await b.stop()


async def test_an_api_only_process_serves_what_the_ingester_stored(central: Central) -> None:
    sim = SimClassroom(central.broker, "kz-024", "x", session=1)
    await sim.start(health_loop=False)
    await central.wait_presence("kz-024", "x", "online")
    reader = Central(central.broker, central.db, central.state_dir.parent / "api-only", {"role": "api"})
    await reader.start()
    try:
        assert await reader.get("/healthz") == {"status": "ok"}
        await sim.kill()
        await reader.wait_presence("kz-024", "x", "offline")
    finally:
        await reader.close()
