"""``GET /api/v1/health/datapath``: the gateway's figures from the state database, and plainly stale or
absent when the gateway's process has not reported (never zeros that look healthy)."""

from __future__ import annotations

from datetime import timedelta

from api import datapath
from tests.api.conftest import World
from tests.api.fakes import T0


def test_no_report_is_said_plainly(world: World) -> None:
    answer = world.client.get("/api/v1/health/datapath", headers=world.auth("viewer"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["figures"] is None and body["reported_at"] is None and body["stale"] is True


def test_a_report_is_shown_then_marked_stale_when_it_ages(world: World) -> None:
    figures = datapath.Figures(
        readings_total=1200, readings_per_s=40.0, dead_letters=3, spool_readings=0, queue_depth=1
    )
    datapath.report(world.engine, world.site.id, figures, T0)
    body = world.client.get("/api/v1/health/datapath", headers=world.auth("viewer")).json()
    assert body["stale"] is False and body["figures"]["readings_per_s"] == 40.0
    assert body["figures"]["dead_letters"] == 3
    world.clock.advance(datapath.STALE_S + 1)
    body = world.client.get("/api/v1/health/datapath", headers=world.auth("viewer")).json()
    assert body["stale"] is True and body["age_s"] > datapath.STALE_S
    assert world.client.get("/api/v1/health/datapath").status_code == 401
    assert timedelta(seconds=body["age_s"]) > timedelta(0)
