"""Sites, alert filters and actions, owner-reported tickets, richer ticket actions and the reports (fakes)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest

from api.schemas import AlertOut, TicketOut
from facwatch.model import Level, Point, TicketAction, TicketState, ms_from_utc
from tests.api.conftest import World
from tests.api.fakes import T0

OWNER = {
    "text": "No water on the 15th floor since 7 am",
    "category": "water",
    "building": "b1",
    "unit": "1502",
    "photo_urls": ["https://pm.example.com/photos/8812.jpg"],
    "location": "kitchen tap",
}


def _get(world: World, path: str, scope: str = "admin", **params: Any) -> Any:
    response = world.client.get(f"/api/v1{path}", params=params, headers=world.auth(scope))
    assert response.status_code == 200, response.text
    return response.json()


def _post(world: World, path: str, body: Any = None, scope: str = "admin") -> Any:
    return world.client.post(f"/api/v1{path}", json=body, headers=world.auth(scope))


# --- sites ---------------------------------------------------------------------------------------------


def test_sites_list_the_compound_with_buildings_and_their_assets(world: World) -> None:
    [site] = _get(world, "/sites", "viewer")["items"]
    assert site["id"] == "lakeside" and site["timezone"]
    buildings = {b["id"]: b for b in site["buildings"]}
    assert "b1-elev-1" in buildings["b1"]["assets"]
    assert sum(site["asset_counts"].values()) == len(world.site.assets)
    assert "notify" not in str(site)  # notification addresses are not the API's to hand out
    assert _get(world, "/sites/lakeside") == site


def test_an_unknown_site_is_404_and_a_made_up_cursor_422(world: World) -> None:
    assert world.client.get("/api/v1/sites/elsewhere", headers=world.auth()).status_code == 404
    bad = world.client.get("/api/v1/sites", params={"cursor": "x"}, headers=world.auth())
    assert bad.status_code == 422


# --- alerts --------------------------------------------------------------------------------------------


def test_alert_filters_by_building_and_time_window(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    world.alerts.add_incident("b2-elev-1", Level.RED, T0 + timedelta(hours=2))
    assert [a["asset"] for a in _get(world, "/alerts", building="b2")["items"]] == ["b2-elev-1"]
    since = _get(world, "/alerts", since=(T0 + timedelta(hours=1)).isoformat())["items"]
    assert [a["asset"] for a in since] == ["b2-elev-1"]
    until_ms = str(int((T0 + timedelta(hours=1)).timestamp() * 1000))
    assert [a["asset"] for a in _get(world, "/alerts", until=until_ms)["items"]] == ["b1-elev-1"]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},  # not a time
        {"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"},  # a window that ends first
        {"level": "purple"},  # not a level
        {"building": "b" * 65},  # over the id length
    ],
)
def test_bad_alert_filters_are_422(world: World, params: dict[str, str]) -> None:
    response = world.client.get("/api/v1/alerts", params=params, headers=world.auth())
    assert response.status_code == 422, response.text


def test_one_alert_by_id_and_404_for_an_unknown_one(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert _get(world, f"/alerts/{alert.id}")["id"] == alert.id
    assert world.client.get("/api/v1/alerts/A999", headers=world.auth()).status_code == 404


def test_acknowledging_an_alert_records_who_and_when(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    world.clock.advance(20)
    response = _post(world, f"/alerts/{alert.id}/acknowledge", scope="engineer")
    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_by"] == "engineer-user"
    assert datetime.fromisoformat(response.json()["acknowledged_at"]) == T0 + timedelta(seconds=20)
    assert _post(world, "/alerts/A999/acknowledge").status_code == 404


def test_silencing_for_a_duration_sets_until_and_reason(world: World) -> None:
    alert = world.alerts.add_incident("b1-pump-1", Level.BLUE, T0)
    response = _post(world, f"/alerts/{alert.id}/silence", {"duration_s": 3600, "reason": "contractor tests"})
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["silenced_until"]) == T0 + timedelta(hours=1)
    assert response.json()["silence_reason"] == "contractor tests"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"reason": "x"}, "either until or duration_s"),  # neither
        ({"duration_s": 60, "until": "2024-05-01T09:00:00Z", "reason": "x"}, "either"),  # both
        ({"until": "2024-05-01T07:00:00Z", "reason": "x"}, "future"),  # the past
        ({"duration_s": 60, "reason": "   "}, "reason"),  # a blank reason
        ({"duration_s": 60}, "reason"),  # no reason at all
        ({"duration_s": 40 * 86400, "reason": "x"}, "duration_s"),  # longer than 30 days
    ],
)
def test_bad_silences_are_422_with_the_reason(world: World, body: dict[str, Any], message: str) -> None:
    alert = world.alerts.add_incident("b1-pump-1", Level.BLUE, T0)
    response = _post(world, f"/alerts/{alert.id}/silence", body)
    assert response.status_code == 422
    assert message in str(response.json()["detail"])


def test_an_engineer_may_not_silence(world: World) -> None:
    alert = world.alerts.add_incident("b1-pump-1", Level.BLUE, T0)
    response = _post(world, f"/alerts/{alert.id}/silence", {"duration_s": 60, "reason": "x"}, "engineer")
    assert response.status_code == 403


# --- tickets -------------------------------------------------------------------------------------------


def test_an_owner_report_opens_a_ticket_with_all_its_fields(world: World) -> None:
    response = _post(world, "/tickets", OWNER, scope="integration")
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert ticket["source"] == "owner" and ticket["state"] == "open"
    # the old name "water" is taken and stored as the report page's category
    assert (ticket["building"], ticket["unit"], ticket["category"]) == ("b1", "1502", "leak")
    assert ticket["photo_urls"] == OWNER["photo_urls"] and ticket["location"] == "kitchen tap"
    [report] = world.alerts.reports
    assert report.reporter == "integration-user" and report.text == OWNER["text"]
    assert [t["id"] for t in _get(world, "/tickets", source="owner")["items"]] == [ticket["id"]]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("cleaning", "cleaning"),  # one of the report page's seven
        ("security", "security"),
        ("fire", "security"),  # the names taken before them
        ("water", "leak"),
    ],
)
def test_owner_tickets_take_the_seven_categories(world: World, given: str, stored: str) -> None:
    response = _post(world, "/tickets", {**OWNER, "category": given}, scope="integration")
    assert response.status_code == 201, response.text
    assert response.json()["category"] == stored


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"building": "b9"}, "unknown building"),
        ({"asset": "b9-elev-1"}, "unknown asset"),
        ({"asset": "b2-elev-1"}, "is in building"),  # the machine is in another building
        ({"site": "elsewhere"}, "unknown site"),
        ({"category": "gossip"}, "category"),
        ({"text": ""}, "text"),
        ({"photo_urls": ["not a url"]}, "photo_urls"),
        ({"colour": "red"}, "colour"),  # unknown fields are refused, not ignored
    ],
)
def test_bad_owner_reports_are_422_and_open_nothing(
    world: World, change: dict[str, Any], message: str
) -> None:
    response = _post(world, "/tickets", {**OWNER, **change})
    assert response.status_code == 422
    assert message in str(response.json()["detail"])
    assert world.alerts.reports == []


def test_a_viewer_cannot_report(world: World) -> None:
    assert _post(world, "/tickets", OWNER, scope="viewer").status_code == 403


def test_ticket_filters_reach_the_engine(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    world.alerts.add_incident("b2-pump-1", Level.ORANGE, T0 + timedelta(hours=1))
    assert [t["asset"] for t in _get(world, "/tickets", level="orange")["items"]] == ["b2-pump-1"]
    assert [t["asset"] for t in _get(world, "/tickets", building="b1")["items"]] == ["b1-elev-1"]
    later = _get(world, "/tickets", since=(T0 + timedelta(minutes=30)).isoformat())["items"]
    assert [t["asset"] for t in later] == ["b2-pump-1"]
    assert (
        world.client.get("/api/v1/tickets", params={"source": "fax"}, headers=world.auth()).status_code == 422
    )


def test_progress_and_plan_b_carry_their_fields_to_the_engine(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    eta = "2024-05-01T10:00:00+08:00"
    _post(world, f"/tickets/{alert.ticket_id}/actions", {"action": "progress", "percent": 60, "eta": eta})
    _post(
        world, f"/tickets/{alert.ticket_id}/actions", {"action": "plan_b", "plan_b": "staff help with stairs"}
    )
    (_, progress, _), (_, plan_b, _) = world.alerts.requests
    assert progress.action == TicketAction.PROGRESS and progress.percent == 60
    assert progress.eta == datetime.fromisoformat("2024-05-01T02:00:00+00:00")  # converted to UTC
    assert plan_b.action == TicketAction.PLAN_B and plan_b.plan_b == "staff help with stairs"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "progress", "percent": 120},  # over 100 %
        {"action": "progress", "percent": -1},
        {"action": "plan_b", "plan_b": "x" * 2001},  # over the length limit
    ],
)
def test_bad_progress_and_plan_b_are_422(world: World, body: dict[str, Any]) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert _post(world, f"/tickets/{alert.ticket_id}/actions", body).status_code == 422
    assert world.alerts.requests == []


def test_the_ticket_shows_progress_and_eta(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    key = str(alert.ticket_id)
    world.alerts.tickets[key] = dataclasses.replace(
        world.alerts.tickets[key],
        state=TicketState.ON_SITE,
        progress_percent=40.0,
        eta=T0 + timedelta(hours=1),
    )
    ticket = _get(world, f"/tickets/{alert.ticket_id}")
    assert ticket["progress_percent"] == 40.0
    assert datetime.fromisoformat(ticket["eta"]) == T0 + timedelta(hours=1)


# --- reports -------------------------------------------------------------------------------------------


def test_sla_report_defaults_to_the_last_30_days(world: World) -> None:
    report = _get(world, "/reports/sla", "manager")
    assert datetime.fromisoformat(report["until"]) == T0
    assert datetime.fromisoformat(report["since"]) == T0 - timedelta(days=30)
    [row] = report["rows"]
    assert row["level"] == "red" and row["arrive_breaches"] == 1 and row["ack_p50_s"] == 30.0


def test_incident_report_by_quarter_passes_window_and_period(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0 - timedelta(days=2), kind="elevator.entrapment")
    report = _get(
        world, "/reports/incidents", "manager", period="quarter", since="2024-04-01", until="2024-07-01"
    )
    assert report["period"] == "quarter"
    assert world.alerts.report_calls[-1][4] == "quarter"
    assert [(r["asset"], r["kind"], r["count"]) for r in report["rows"]] == [
        ("b1-elev-1", "elevator.entrapment", 1)
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"period": "week"},  # months and quarters only
        {"since": "2020-01-01", "until": "2024-01-01"},  # more than three years
        {"since": "2024-05-01", "until": "2024-04-01"},  # backwards
    ],
)
def test_bad_report_parameters_are_422(world: World, params: dict[str, str]) -> None:
    response = world.client.get("/api/v1/reports/incidents", params=params, headers=world.auth())
    assert response.status_code == 422


def test_reports_are_for_managers(world: World) -> None:
    assert world.client.get("/api/v1/reports/sla", headers=world.auth("engineer")).status_code == 403


def test_the_fast_lists_answer_exactly_the_documented_schema(world: World) -> None:
    alert = world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    world.alerts.silence_alert(str(alert.id), until=T0 + timedelta(hours=1), reason="r", actor="x", now=T0)
    key = str(alert.ticket_id)
    world.alerts.tickets[key] = dataclasses.replace(
        world.alerts.tickets[key], progress_percent=20.0, eta=T0 + timedelta(minutes=45), unit="1502"
    )
    [listed_alert] = _get(world, "/alerts")["items"]
    assert listed_alert == AlertOut.from_alert(world.alerts.get_alert(alert.id)).model_dump(mode="json")
    [listed_ticket] = _get(world, "/tickets")["items"]
    expected = TicketOut.from_ticket(world.alerts.tickets[key]).model_dump(mode="json")
    assert listed_ticket == expected
    assert listed_ticket["eta"] == "2024-05-01T08:45:00Z" and listed_alert["silence_reason"] == "r"


def test_one_asset_with_its_latest_values_and_404_for_an_unknown_one(world: World) -> None:
    world.telemetry.latest_values["b1-pump-1"] = {
        "discharge_pressure_bar": Point(ms_from_utc(T0), "discharge_pressure_bar", 6.2)
    }
    asset = _get(world, "/assets/b1-pump-1", "viewer")
    assert asset["kind"] == "pump" and asset["building"] == "b1"
    assert asset["latest"]["discharge_pressure_bar"]["value"] == 6.2
    assert world.client.get("/api/v1/assets/b9-pump-9", headers=world.auth()).status_code == 404
