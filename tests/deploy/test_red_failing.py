"""Broken on purpose: every channel refuses the RED notices of a real entrapment (nothing listens at the
address). Prometheus, scraping the running system with deploy/prometheus/rules.yml, fires
FacwatchRedNotificationFailing naming the channel, and FacwatchRedUndelivered once nobody got the RED."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from facwatch.app import System, build
from facwatch.config import load_settings, load_site
from facwatch.model import ms_from_utc
from simulator.publisher import run_publisher
from simulator.scenario import load_scenario
from tests.deploy.conftest import Prometheus, scraping
from tests.fixtures.servers import free_port
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SCENARIO = """
[[faults]]
asset = "b1-elev-1"
kind = "entrapment"
at_s = 4
"""


@pytest.fixture
def refusing_system(tmp_path: Path) -> Iterator[System]:
    settings = load_settings(data_dir=tmp_path, api={"port": free_port()}, notify={"undelivered_s": 5})
    nobody = f"json://127.0.0.1:{free_port()}/hook"  # connection refused
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    people = tuple(dataclasses.replace(p, notify=(nobody,)) for p in site.people)
    owners = tuple(dataclasses.replace(o, notify=(nobody,)) for o in site.owners)
    site = dataclasses.replace(site, people=people, owners=owners)
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    system = build(settings, site)
    system.start(embedded_broker=True)
    stop = threading.Event()
    sim = threading.Thread(
        target=run_publisher,
        kwargs={
            "site": site,
            "scenario": load_scenario(str(tmp_path / "scenario.toml")),
            "broker_url": settings.mqtt.url,
            "speed": 1.0,
            "seed": 7,
            "stop": stop,
            "start_ms": ms_from_utc(datetime.now(UTC)),
        },
        daemon=True,
    )
    sim.start()
    try:
        yield system
    finally:
        stop.set()
        sim.join(timeout=10)
        system.stop()


def test_refused_red_notices_fire_the_red_rules(refusing_system: System, tmp_path: Path) -> None:
    target = refusing_system.api_url.removeprefix("http://")
    (tmp_path / "prometheus").mkdir()
    with scraping(target, tmp_path / "prometheus") as prometheus:

        def firing(name: str) -> list[dict[str, Any]]:
            alerts: list[dict[str, Any]] = prometheus.api("alerts")["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]

        wait_until(
            lambda: firing("FacwatchRedNotificationFailing"), 60, "FacwatchRedNotificationFailing firing"
        )
        (alert,) = firing("FacwatchRedNotificationFailing")
        assert alert["labels"]["channel"] == "json"
        assert alert["annotations"]["summary"] == "RED notifications fail on channel json"
        _refused_sends_were_timed(prometheus)

        wait_until(lambda: firing("FacwatchRedUndelivered"), 60, "FacwatchRedUndelivered firing")
        (undelivered,) = prometheus.values('facwatch_notifications_undelivered{level="red"}')
        assert undelivered >= 1  # the engineer's notice, the owners' notice
        assert prometheus.values('facwatch_alerts_firing{level="red"}')[0] >= 1  # the entrapment, and more


def _refused_sends_were_timed(prometheus: Prometheus) -> None:
    counts = prometheus.values('facwatch_notification_send_seconds_count{channel="json",outcome="refused"}')
    assert counts and counts[0] >= 1
