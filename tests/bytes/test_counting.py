"""Today's uplink bytes: rolled over at local midnight, kept across a restart."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from classroomd.bus.uplink import DailyTraffic
from classroomd.config.schema import Config


def test_the_count_survives_a_restart_and_starts_again_at_midnight(tmp_path: Path) -> None:
    noon = time.mktime((2026, 12, 2, 12, 0, 0, 0, 0, -1))
    now = [noon]
    path = tmp_path / "uplink-traffic.json"
    traffic = DailyTraffic(path, clock=lambda: now[0])
    traffic.count_sent(1000)
    traffic.count_received(40)
    traffic.count_connect()
    traffic.save()

    restarted = DailyTraffic(path, clock=lambda: now[0])
    assert restarted.today() == (1000, 40, 1)
    restarted.count_sent(24)
    assert restarted.today() == (1024, 40, 1)

    now[0] = noon + 12 * 3600 + 1  # one second after midnight
    assert restarted.today() == (0, 0, 0)
    restarted.count_sent(7)
    restarted.save()
    assert DailyTraffic(path, clock=lambda: now[0]).today() == (7, 0, 0)
    # Yesterday's file is not today's count.
    assert DailyTraffic(path, clock=lambda: now[0] + 86_400).today() == (0, 0, 0)


def test_an_uplink_section_needs_a_broker_url_and_has_budget_defaults() -> None:
    config = Config.model_validate({"uplink": {"url": ["mqtts://district.example.kz:8883"]}})
    assert config.uplink is not None and config.uplink.health_interval_s == 60
    assert "job_finished" in config.uplink.events and "progress" not in config.uplink.events
    with pytest.raises(ValidationError, match="not a broker URL"):
        Config.model_validate({"uplink": {"url": "https://district.example.kz"}})
    assert Config().uplink is None
