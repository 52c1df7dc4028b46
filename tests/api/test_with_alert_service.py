"""The routes over the real alert engine (``alerts.engine.service.AlertService``) on the migrated state database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from alerts.engine.eventlog import LogTailer
from alerts.engine.service import AlertService
from api.auth import TokenStore
from api.main import create_app
from facwatch.clock import ManualClock
from facwatch.config import load_site
from facwatch.model import Reading, ms_from_utc
from tests.alerts.helpers import DATABASES
from tests.api.conftest import LOCAL_TARGETS
from tests.api.fakes import T0
from tests.fixtures.engine_api import engine_api
from tests.fixtures.postgres import state_engine as state_engine_on
from tests.fixtures.receivers import HttpReceiver


class Desk:
    def __init__(
        self, client: TestClient, service: AlertService, clock: ManualClock, tokens: TokenStore, token: str
    ) -> None:
        self.client, self.service, self.clock, self.tokens = client, service, clock, tokens
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


def _desk(state_engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    api = engine_api(state_engine, site, T0, event_log=True)
    services, service, tokens, clock, bus = api.services, api.alerts, api.tokens, api.clock, api.bus
    tailer = LogTailer(state_engine, bus)  # the event log to this process's streams, as facwatch.app does
    bus.on_wake(tailer.wake)
    tailer.start()
    with TestClient(create_app(services, webhook_targets=LOCAL_TARGETS)) as client:
        yield Desk(client, service, clock, tokens, tokens.create("li.engineer", ["engineer"]))
    tailer.stop()
    bus.close()


@pytest.fixture
def desk(state_engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    yield from _desk(state_engine, tmp_path)


@pytest.fixture(params=DATABASES)
def any_desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Desk]:
    """The desk on SQLite and on PostgreSQL: for what the state database keeps (the check-in lock)."""
    for engine in state_engine_on(request, tmp_path):
        yield from _desk(engine, tmp_path)


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
    arrived = desk.act(ticket_id, action="check_in", checkin_code="QJ9N-39Y3")
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


# --- issue 8's routes over the real engine (methods of alerts.engine.ports.AlertsApi added for them) ----------


def test_alert_filters_by_building_and_time_over_the_engine(desk: Desk) -> None:
    desk.alarm("b1-elev-1", T0)
    desk.alarm("b2-elev-1", T0 + timedelta(hours=1))
    assert [a["asset"] for a in desk.get("/alerts", building="b2")["items"]] == ["b2-elev-1"]
    later = desk.get("/alerts", since=(T0 + timedelta(minutes=30)).isoformat())["items"]
    assert [a["asset"] for a in later] == ["b2-elev-1"]
    assert [t["asset"] for t in desk.get("/tickets", building="b1")["items"]] == ["b1-elev-1"]


def test_acknowledging_the_alert_over_the_engine(desk: Desk) -> None:
    desk.alarm("b1-elev-1", T0)
    [alert] = desk.get("/alerts")["items"]
    desk.clock.advance(20)
    response = desk.client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=desk.headers)
    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_by"] == "li.engineer"
    assert desk.get(f"/tickets/{alert['ticket_id']}")["acknowledged_at"] is not None


def test_an_owner_report_over_the_engine_has_a_ten_minute_acknowledge_clock(desk: Desk) -> None:
    body = {"text": "No water on 15F", "category": "water", "building": "b1", "unit": "1502"}
    response = desk.client.post("/api/v1/tickets", json=body, headers=desk.headers)
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["source"] == "owner" and ticket["unit"] == "1502"
    assert datetime.fromisoformat(ticket["deadlines"]["acknowledge"]) == T0 + timedelta(minutes=10)


def test_progress_with_percent_and_eta_over_the_engine(desk: Desk) -> None:
    desk.alarm("b1-elev-1", T0)
    ticket_id = desk.get("/tickets")["items"][0]["id"]
    assert desk.act(ticket_id, action="check_in", checkin_code="QJ9N-39Y3").status_code == 200
    eta = (T0 + timedelta(hours=1)).isoformat()
    response = desk.act(ticket_id, action="progress", percent=60, eta=eta, note="door motor")
    assert response.status_code == 200, response.text
    assert response.json()["progress_percent"] == 60
    assert datetime.fromisoformat(response.json()["eta"]) == T0 + timedelta(hours=1)


def test_silencing_an_alert_over_the_engine(desk: Desk) -> None:
    desk.alarm("b1-elev-1", T0)
    [alert] = desk.get("/alerts")["items"]
    manager = {"Authorization": f"Bearer {desk.tokens.create('zhao.manager', ['manager'])}"}
    body = {"duration_s": 600, "reason": "lift company on site"}
    response = desk.client.post(f"/api/v1/alerts/{alert['id']}/silence", json=body, headers=manager)
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["silenced_until"]) == T0 + timedelta(minutes=10)
    assert desk.get(f"/alerts/{alert['id']}")["silence_reason"] == "lift company on site"


def test_reports_over_the_engine_count_the_entrapment(desk: Desk) -> None:
    desk.alarm("b1-elev-1", T0)
    ticket_id = desk.get("/tickets")["items"][0]["id"]
    desk.clock.advance(30)
    assert desk.act(ticket_id, action="acknowledge").status_code == 200
    manager = {"Authorization": f"Bearer {desk.tokens.create('zhao.manager', ['manager'])}"}
    window = {"since": (T0 - timedelta(days=1)).isoformat(), "until": (T0 + timedelta(days=1)).isoformat()}
    sla = desk.client.get("/api/v1/reports/sla", params=window, headers=manager)
    assert sla.status_code == 200, sla.text
    [red] = [row for row in sla.json()["rows"] if row["level"] == "red"]
    assert red["tickets"] == 1 and red["acknowledged"] == 1 and red["ack_p50_s"] == 30
    incidents = desk.client.get(
        "/api/v1/reports/incidents", params=window | {"period": "month"}, headers=manager
    )
    assert incidents.status_code == 200, incidents.text
    rows = incidents.json()["rows"]
    assert [(r["asset"], r["kind"], r["count"]) for r in rows] == [("b1-elev-1", "elevator.entrapment", 1)]


def test_an_entrapment_reaches_a_subscribed_ticket_system_by_webhook(
    desk: Desk, http_receiver: HttpReceiver
) -> None:
    integration = {"Authorization": f"Bearer {desk.tokens.create('pm-system', ['integration'])}"}
    body = {"url": http_receiver.http_url, "events": ["ticket", "alert"]}
    assert desk.client.post("/api/v1/webhooks", json=body, headers=integration).status_code == 201
    desk.alarm("b1-elev-1", T0)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        types = {(p["type"], p["data"].get("asset")) for p in http_receiver.received}
        if {("alert", "b1-elev-1"), ("ticket", "b1-elev-1")} <= types:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the ticket system got {http_receiver.received}")
    [alert] = [p["data"] for p in http_receiver.received if p["type"] == "alert"][:1]
    assert (alert["level"], alert["kind"]) == ("red", "elevator.entrapment")


CODE = "QJ9N-39Y3"
"""The check-in code posted at b1-elev-1 in the demo site."""


def test_guessing_the_check_in_code_is_stopped_after_five_wrong_codes(any_desk: Desk) -> None:
    desk = any_desk
    desk.alarm("b1-elev-1", T0)
    desk.alarm("b2-elev-1", T0)
    tickets = {t["asset"]: t["id"] for t in desk.get("/tickets")["items"]}
    ticket_id = tickets["b1-elev-1"]
    for guess in range(5):
        desk.clock.advance(10)
        wrong = desk.act(ticket_id, action="check_in", checkin_code=f"GUESS{guess:04d}")
        assert wrong.status_code == 422, wrong.text
    desk.clock.advance(10)
    locked = desk.act(ticket_id, action="check_in", checkin_code=CODE)  # even the right code waits now
    assert locked.status_code == 429 and "too many wrong codes" in locked.json()["detail"]
    assert int(locked.headers["Retry-After"]) == 600 - 10  # ten minutes after the fifth wrong code
    # Per token: this token waits on another ticket too.
    elsewhere = desk.act(tickets["b2-elev-1"], action="check_in", checkin_code="LMEJ-YL5Z")
    assert elsewhere.status_code == 429
    # Every refused attempt is in the timeline: who and when, never the code typed.
    timeline = desk.get(f"/tickets/{ticket_id}")["timeline"]
    refused = [e for e in timeline if e["action"] in ("checkin_refused", "checkin_blocked")]
    assert [e["action"] for e in refused] == ["checkin_refused"] * 5 + ["checkin_blocked"]
    assert {e["actor"] for e in refused} == {"li.engineer"}
    assert datetime.fromisoformat(refused[0]["ts"]) == T0 + timedelta(seconds=10)
    assert not any("GUESS" in e["note"] or CODE in e["note"] for e in timeline)
    assert desk.get(f"/tickets/{ticket_id}")["state"] == "open"
    # Another engineer's token is not held up by them: the engineer at the trapped car checks in at once.
    other = {"Authorization": f"Bearer {desk.tokens.create('wang.engineer', ['engineer'])}"}
    path = f"/api/v1/tickets/{ticket_id}/actions"
    by_other = desk.client.post(path, json={"action": "check_in", "checkin_code": CODE}, headers=other)
    assert by_other.status_code == 200, by_other.text
    assert by_other.json()["state"] == "on_site"
    # Ten minutes after the fifth wrong code, the guessing token's posted code proves arrival again.
    desk.clock.advance(600 - 10)
    arrived = desk.act(tickets["b2-elev-1"], action="check_in", checkin_code="LMEJ-YL5Z")
    assert arrived.status_code == 200, arrived.text
    assert arrived.json()["state"] == "on_site"


def test_many_tokens_guessing_one_ticket_wait_together(any_desk: Desk) -> None:
    desk = any_desk
    desk.alarm("b1-elev-1", T0)
    [ticket] = desk.get("/tickets")["items"]
    path = f"/api/v1/tickets/{ticket['id']}/actions"
    guessers = [desk.tokens.create(f"guesser{g}.engineer", ["engineer"]) for g in range(5)]
    for n in range(20):  # five tokens, four wrong codes each: no token reaches its own bound
        desk.clock.advance(5)
        headers = {"Authorization": f"Bearer {guessers[n // 4]}"}
        wrong = desk.client.post(
            path, json={"action": "check_in", "checkin_code": f"GUESS{n:04d}"}, headers=headers
        )
        assert wrong.status_code == 422, wrong.text
    fresh = {"Authorization": f"Bearer {desk.tokens.create('zhou.engineer', ['engineer'])}"}
    locked = desk.client.post(path, json={"action": "check_in", "checkin_code": CODE}, headers=fresh)
    assert locked.status_code == 429 and "too many wrong codes" in locked.json()["detail"]


def test_a_ticket_whose_alert_still_fires_is_closed_only_by_a_manager_with_a_reason(any_desk: Desk) -> None:
    desk = any_desk
    desk.alarm("b1-elev-1", T0)
    [alert] = desk.get("/alerts")["items"]
    ticket_id = alert["ticket_id"]
    desk.clock.advance(60)
    refused = desk.act(ticket_id, action="resolve", note="reset the controller")
    assert refused.status_code == 409
    assert f"alert {alert['id']} elevator.entrapment is still firing" in refused.json()["detail"]
    assert desk.get(f"/tickets/{ticket_id}")["state"] == "open"  # refused: nothing changed
    # An engineer may not override; a manager may, with a written reason that the timeline keeps.
    engineer_override = desk.act(ticket_id, action="resolve", override_reason="looks fine to me")
    assert engineer_override.status_code == 403
    manager = {"Authorization": f"Bearer {desk.tokens.create('zhao.manager', ['manager'])}"}
    reason = "door sensor cable cut; the lift company checked the car is empty"
    path = f"/api/v1/tickets/{ticket_id}/actions"
    resolved = desk.client.post(path, json={"action": "resolve", "override_reason": reason}, headers=manager)
    assert resolved.status_code == 200, resolved.text
    entry = resolved.json()["timeline"][-1]
    assert (entry["action"], entry["actor"]) == ("resolve", "zhao.manager")
    assert datetime.fromisoformat(entry["ts"]) == T0 + timedelta(seconds=60)
    assert reason in entry["note"] and alert["id"] in entry["note"]
    assert desk.get(f"/alerts/{alert['id']}")["state"] == "firing"  # the sensor still says so
    # Closing is guarded the same way.
    assert desk.act(ticket_id, action="close").status_code == 409
    closed = desk.client.post(path, json={"action": "close", "override_reason": reason}, headers=manager)
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
