"""The routes over the real alert engine (``alerts.service.AlertService``) on the migrated state database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from alerts.events import EventBus
from alerts.service import AlertService
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from facwatch.clock import ManualClock
from facwatch.config import SlaSettings, load_site
from facwatch.model import Reading, ms_from_utc
from tests.api.fakes import T0, FakeDeadLetters, FakeTelemetry


class Desk:
    def __init__(self, client: TestClient, service: AlertService, clock: ManualClock, token: str) -> None:
        self.client, self.service, self.clock = client, service, clock
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(f"/api/v1{path}", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def act(self, ticket: str, **body: Any) -> Any:
        return self.client.post(f"/api/v1/tickets/{ticket}/actions", json=body, headers=self.headers)

    def alarm(self, asset: str, at: datetime) -> None:
        """A passenger presses the alarm in a car stopped between floors: a RED entrapment."""
        ts = ms_from_utc(at)
        values = {"in_door_zone": 0.0, "speed_mps": 0.0, "running": 0.0, "alarm_button": 1.0, "load_kg": 80.0}
        self.service.observe([Reading("lakeside", asset, ch, ts, v) for ch, v in values.items()])


@pytest.fixture
def desk(state_engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    bus = EventBus()
    clock = ManualClock(T0)
    service = AlertService(state_engine, site, SlaSettings(), bus)
    tokens = TokenStore(state_engine, clock)
    services = ApiServices(
        site=site,
        alerts=service,
        telemetry=FakeTelemetry(),
        dead_letters=FakeDeadLetters(),
        tokens=tokens,
        bus=bus,
        clock=clock,
    )
    with TestClient(create_app(services)) as client:
        yield Desk(client, service, clock, tokens.create("li.engineer", ["engineer"]))
    bus.close()


def test_an_entrapment_is_a_red_alert_with_a_ticket_due_on_site_in_three_minutes(desk: Desk) -> None:
    desk.alarm("b1-elev-1", T0)
    [alert] = desk.get("/alerts")["items"]
    assert (alert["asset"], alert["level"], alert["state"]) == ("b1-elev-1", "red", "firing")
    assert datetime.fromisoformat(alert["opened_at"]) == T0
    ticket = desk.get(f"/tickets/{alert['ticket_id']}")
    assert alert["id"] in ticket["alert_ids"]
    assert datetime.fromisoformat(ticket["deadlines"]["on_site"]) == T0 + timedelta(minutes=3)
    assert ticket["timeline"]


def test_the_engineer_acknowledges_checks_in_and_resolves_through_the_api(desk: Desk) -> None:
    desk.alarm("b1-elev-1", T0)
    ticket_id = desk.get("/tickets")["items"][0]["id"]

    desk.clock.advance(30)
    acked = desk.act(ticket_id, action="acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["timeline"][-1]["actor"] == "li.engineer"

    wrong = desk.act(ticket_id, action="check_in", checkin_code="1234")
    assert wrong.status_code == 422 and "check-in refused" in wrong.json()["detail"]

    desk.clock.advance(90)
    arrived = desk.act(ticket_id, action="check_in", checkin_code="B1E1-7342")
    assert arrived.status_code == 200, arrived.text
    assert arrived.json()["state"] == "on_site"

    again = desk.act(ticket_id, action="acknowledge")
    assert again.status_code == 409
    assert "on_site" in again.json()["detail"]


def test_unknown_tickets_are_404_for_reads_and_actions(desk: Desk) -> None:
    assert desk.client.get("/api/v1/tickets/T999", headers=desk.headers).status_code == 404
    assert desk.act("T999", action="acknowledge").status_code == 404
    assert desk.act("not-a-ticket", action="acknowledge").status_code == 404


def test_real_cursors_walk_every_alert_once(desk: Desk) -> None:
    for i, asset in enumerate(("b1-elev-1", "b1-elev-2", "b2-elev-1")):
        desk.alarm(asset, T0 + timedelta(seconds=i))
    seen: list[str] = []
    page = desk.get("/alerts", limit=2)
    seen += [a["asset"] for a in page["items"]]
    while page["next"]:
        page = desk.get("/alerts", limit=2, cursor=page["next"])
        seen += [a["asset"] for a in page["items"]]
    assert sorted(seen) == ["b1-elev-1", "b1-elev-2", "b2-elev-1"]
    bad = desk.client.get("/api/v1/alerts", params={"cursor": "%%%"}, headers=desk.headers)
    assert bad.status_code == 422
