"""The HTTP contract of ARCHITECTURE.md: shapes, pagination, filters, parameter parsing, error mapping."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from facwatch.model import DeadLetterReason, Level, Point, ms_from_utc
from tests.api.conftest import World
from tests.api.fakes import T0, dead_letter

ALERT_KEYS = {
    "id", "site", "asset", "building", "kind", "level", "state", "summary", "opened_at", "updated_at",
    "resolved_at", "ticket_id", "count", "acknowledged_at", "escalation_step",
}  # fmt: skip
TICKET_KEYS = {
    "id", "site", "asset", "building", "kind", "level", "state", "title", "created_at", "updated_at",
    "alert_ids", "deadlines", "assignee",
}  # fmt: skip


def _utc(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    assert when.utcoffset() == timedelta(0), f"{text} is not UTC"
    return when


def _walk(world: World, path: str, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    """Follow ``next`` cursors to the end; one list per page."""
    pages, cursor = [], None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        body = world.client.get(path, params=query, headers=world.auth()).json()
        assert set(body) >= {"items", "next"}
        pages.append(body["items"])
        cursor = body["next"]
        if cursor is None:
            return pages


# --- alerts --------------------------------------------------------------------------------------------


def test_alerts_have_the_contract_fields_with_utc_times(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0, kind="elevator.entrapment")
    [alert] = world.client.get("/api/v1/alerts", headers=world.auth("viewer")).json()["items"]
    assert set(alert) >= ALERT_KEYS
    assert alert["level"] == "red" and alert["state"] == "firing" and alert["building"] == "b1"
    assert _utc(alert["opened_at"]) == T0
    assert alert["ticket_id"] == "T1" and alert["resolved_at"] is None


def test_alerts_come_worst_first_and_page_with_cursors(world: World) -> None:
    for i, level in enumerate([Level.BLUE, Level.RED, Level.YELLOW, Level.ORANGE, Level.RED]):
        world.alerts.add_incident("b1-pump-1", level, T0 + timedelta(minutes=i))
    pages = _walk(world, "/api/v1/alerts", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    levels = [a["level"] for page in pages for a in page]
    assert levels == ["red", "red", "orange", "yellow", "blue"]
    assert len({a["id"] for page in pages for a in page}) == 5


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"level": "red"}, {"A1"}),
        ({"asset": "b2-pump-1"}, {"A2"}),
        ({"site": "elsewhere"}, set()),
        ({"state": "resolved"}, set()),
    ],
)
def test_alert_filters(world: World, params: dict[str, str], expected: set[str]) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    world.alerts.add_incident("b2-pump-1", Level.ORANGE, T0)
    items = world.client.get("/api/v1/alerts", params=params, headers=world.auth()).json()["items"]
    assert {a["id"] for a in items} == expected


@pytest.mark.parametrize(
    "params",
    [{"level": "purple"}, {"state": "burning"}, {"limit": "0"}, {"limit": "100000"}, {"cursor": "garbage"}],
)
def test_bad_list_parameters_are_422(world: World, params: dict[str, str]) -> None:
    response = world.client.get("/api/v1/alerts", params=params, headers=world.auth())
    assert response.status_code == 422, response.text


# --- tickets -------------------------------------------------------------------------------------------


def test_ticket_list_has_deadlines_and_no_timeline_the_single_get_has_it(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    [ticket] = world.client.get("/api/v1/tickets", headers=world.auth()).json()["items"]
    assert set(ticket) >= TICKET_KEYS and "timeline" not in ticket
    assert _utc(ticket["deadlines"]["on_site"]) == T0 + timedelta(minutes=3)
    assert ticket["deadlines"]["fixed"] is None
    assert ticket["alert_ids"] == ["A1"]
    one = world.client.get("/api/v1/tickets/T1", headers=world.auth()).json()
    assert one["timeline"] == [
        {"ts": one["timeline"][0]["ts"], "action": "open", "actor": "facwatch", "note": "opened by alert"}
    ]
    assert _utc(one["timeline"][0]["ts"]) == T0


def test_unknown_ticket_is_404(world: World) -> None:
    assert world.client.get("/api/v1/tickets/T404", headers=world.auth()).status_code == 404


def test_tickets_page_with_cursors_and_filter_by_state(world: World) -> None:
    for i in range(3):
        world.alerts.add_incident("b1-pump-1", Level.ORANGE, T0 + timedelta(minutes=i))
    pages = _walk(world, "/api/v1/tickets", limit=2)
    assert [[t["id"] for t in p] for p in pages] == [["T3", "T2"], ["T1"]]
    assert _walk(world, "/api/v1/tickets", limit=10, state="on_site") == [[]]


# --- ticket actions ------------------------------------------------------------------------------------


def _act(world: World, ticket: str, scope: str = "engineer", **body: Any) -> Any:
    return world.client.post(f"/api/v1/tickets/{ticket}/actions", json=body, headers=world.auth(scope))


def test_acknowledge_records_the_tokens_name_as_actor_at_the_clocks_time(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    world.clock.advance(42)
    response = _act(world, "T1", action="acknowledge", note="on my way")
    assert response.status_code == 200, response.text
    ticket = response.json()
    assert ticket["state"] == "acknowledged"
    last = ticket["timeline"][-1]
    assert (last["action"], last["actor"], last["note"]) == ("acknowledge", "engineer-user", "on my way")
    assert _utc(last["ts"]) == T0 + timedelta(seconds=42)


def test_check_in_with_the_posted_code_puts_the_engineer_on_site(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    response = _act(world, "T1", action="check_in", checkin_code="QJ9N-39Y3")
    assert response.status_code == 200 and response.json()["state"] == "on_site"
    [(_, request, _)] = world.alerts.requests
    assert request.checkin_code == "QJ9N-39Y3"


def test_check_in_with_a_wrong_code_is_refused_clearly(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    response = _act(world, "T1", action="check_in", checkin_code="0000")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("check-in refused")
    assert world.alerts.tickets["T1"].state == "open"


def test_an_illegal_transition_is_409_naming_state_and_action(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    response = _act(world, "T1", action="resolve")
    assert response.status_code == 409
    assert response.json()["detail"] == "cannot resolve a ticket that is open"


@pytest.mark.parametrize(
    ("scope", "status"),
    [
        ("engineer", 403),  # an engineer may not override a firing alert
        ("integration", 403),  # nor may a ticket system
        ("manager", 409),  # a manager's override reaches the engine (this fake's ticket is open: 409)
    ],
)
def test_only_a_manager_may_send_an_override_reason(world: World, scope: str, status: int) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    response = _act(world, "T1", scope=scope, action="resolve", override_reason="sensor cable cut")
    assert response.status_code == status, response.text
    reached = [request.override_reason for _, request, _ in world.alerts.requests]
    assert reached == ([] if status == 403 else ["sensor cable cut"])


def test_acting_on_an_unknown_ticket_is_404(world: World) -> None:
    assert _act(world, "T404", action="acknowledge").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"action": "teleport"},  # not an action
        {},  # no action
        {"action": "progress", "percent": 140},  # out of range
        {"action": "acknowledge", "actor": "someone-else"},  # the actor is the token's, not the caller's say
        {"action": "dispatch", "eta": "tomorrow"},
    ],
)
def test_bad_action_bodies_are_422(world: World, body: dict[str, Any]) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert _act(world, "T1", **body).status_code == 422
    assert world.alerts.requests == []


def test_a_viewer_cannot_act(world: World) -> None:
    world.alerts.add_incident("b1-elev-1", Level.RED, T0)
    assert _act(world, "T1", scope="viewer", action="acknowledge").status_code == 403
    assert world.alerts.requests == []


# --- assets and readings -------------------------------------------------------------------------------


def test_assets_list_every_site_asset_with_building_and_latest_values(world: World) -> None:
    ts = ms_from_utc(T0)
    world.telemetry.latest_values["b1-pump-1"] = {
        "discharge_pressure_bar": Point(ts, "discharge_pressure_bar", 5.5),
        "running": Point(ts - 1000, "running", 1.0),
    }
    items = world.client.get("/api/v1/assets", headers=world.auth("viewer")).json()["items"]
    assert [a["id"] for a in items] == [a.id for a in world.site.assets]
    pump = next(a for a in items if a["id"] == "b1-pump-1")
    assert pump["building"] == "b1" and pump["kind"] == "pump" and "Building 1" in pump["building_name"]
    assert pump["latest"]["discharge_pressure_bar"]["value"] == 5.5
    assert _utc(pump["last_seen"]) == T0
    silent = next(a for a in items if a["id"] == "b2-elev-1")
    assert silent["latest"] == {} and silent["last_seen"] is None


def test_assets_page_and_filter_by_building(world: World) -> None:
    pages = _walk(world, "/api/v1/assets", limit=4)
    assert sum(len(p) for p in pages) == len(world.site.assets)
    b2 = _walk(world, "/api/v1/assets", limit=100, building="b2")[0]
    assert b2 and all(a["building"] == "b2" for a in b2)


START_MS = ms_from_utc(T0)


@pytest.mark.parametrize(
    ("start", "end", "start_ms", "end_ms"),
    [
        (str(START_MS), str(START_MS + 60_000), START_MS, START_MS + 60_000),  # epoch ms
        ("2024-05-01T08:00:00Z", "2024-05-01T08:01:00Z", START_MS, START_MS + 60_000),  # ISO, Z
        ("2024-05-01T16:00:00+08:00", "2024-05-01T08:01:00+00:00", START_MS, START_MS + 60_000),  # offsets
        ("2024-05-01T08:00:00", "2024-05-01T08:00:00.500", START_MS, START_MS + 500),  # naive means UTC
    ],
)
def test_readings_accept_iso_and_epoch_ms(
    world: World, start: str, end: str, start_ms: int, end_ms: int
) -> None:
    world.telemetry.points = [Point(START_MS + 100, "floor", 3.0), Point(START_MS + 200, "speed_mps", 1.0)]
    response = world.client.get(
        "/api/v1/assets/b1-elev-1/readings",
        params={"channel": "floor", "start": start, "end": end},
        headers=world.auth("viewer"),
    )
    assert response.status_code == 200, response.text
    assert world.telemetry.queries[-1] == ("lakeside", "b1-elev-1", "floor", start_ms, end_ms, None, "mean")
    [point] = response.json()["points"]
    assert point["channel"] == "floor" and point["value"] == 3.0
    assert _utc(point["ts"]) == T0 + timedelta(milliseconds=100)


@pytest.mark.parametrize(
    ("every", "fn", "every_ms", "expected_fn"),
    [("60s", "mean", 60_000, "mean"), ("5m", "max", 300_000, "max"), ("1h", "LAST", 3_600_000, "last"),
     ("500ms", "count", 500, "count"), ("30", "min", 30_000, "min"), ("1d", "sum", 86_400_000, "sum")],
)  # fmt: skip
def test_readings_aggregation_parameters(
    world: World, every: str, fn: str, every_ms: int, expected_fn: str
) -> None:
    response = world.client.get(
        "/api/v1/assets/b1-elev-1/readings",
        params={"channel": "floor", "start": "0", "end": "3600000", "every": every, "fn": fn},
        headers=world.auth(),
    )
    assert response.status_code == 200, response.text
    assert world.telemetry.queries[-1][5:] == (every_ms, expected_fn)
    assert response.json()["every_s"] == every_ms / 1000


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "yesterday"}, "neither epoch milliseconds nor ISO-8601"),
        ({"end": "2024-13-01T00:00:00Z"}, "neither epoch milliseconds nor ISO-8601"),
        ({"start": "2000", "end": "1000"}, "end must be after start"),
        ({"every": "soon"}, "not a duration"),
        ({"every": "0s"}, "longer than 0"),
        ({"every": "1ms", "end": str(10**12)}, "windows"),
        ({"fn": "median"}, "not one of"),
        ({"fn": "first"}, "'first' is not one of mean, min, max, last, count, sum"),  # no store has it
        ({"channel": ""}, ""),
    ],
)
def test_bad_readings_parameters_are_422_with_a_reason(
    world: World, params: dict[str, str], message: str
) -> None:
    query = {"channel": "floor", "start": "1000", "end": "2000", **params}
    response = world.client.get("/api/v1/assets/b1-elev-1/readings", params=query, headers=world.auth())
    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])
    assert world.telemetry.queries == []


def test_readings_need_channel_start_and_end(world: World) -> None:
    response = world.client.get("/api/v1/assets/b1-elev-1/readings", headers=world.auth())
    assert response.status_code == 422
    missing = {err["loc"][-1] for err in response.json()["detail"]}
    assert missing == {"channel", "start", "end"}


def test_readings_of_an_unknown_asset_are_404(world: World) -> None:
    response = world.client.get(
        "/api/v1/assets/nope/readings",
        params={"channel": "floor", "start": "0", "end": "1"},
        headers=world.auth(),
    )
    assert response.status_code == 404


# --- dead letters --------------------------------------------------------------------------------------


def test_dead_letters_page_with_counts_per_reason(world: World) -> None:
    world.dead_letters.letters = [dead_letter(i) for i in range(3)] + [
        dead_letter(9, DeadLetterReason.TOO_LARGE)
    ]
    body = world.client.get(
        "/api/v1/dead-letters", params={"limit": 3}, headers=world.auth("engineer")
    ).json()
    assert body["counts"] == {"malformed": 3, "too_large": 1}
    assert len(body["items"]) == 3 and body["next"] is not None
    first = body["items"][0]
    assert first["reason"] == "malformed" and first["topic"].startswith("fw/lakeside/")
    assert first["payload"].startswith("{not json")  # shown as text, undecodable bytes replaced
    assert _utc(first["received_at"]) == datetime.fromtimestamp(1_714_550_400, UTC)
    rest = world.client.get(
        "/api/v1/dead-letters", params={"limit": 3, "cursor": body["next"]}, headers=world.auth()
    ).json()
    assert [d["reason"] for d in rest["items"]] == ["too_large"] and rest["next"] is None


# --- the board -----------------------------------------------------------------------------------------


def test_the_board_is_served_at_the_root_without_a_token(world: World) -> None:
    page = world.client.get("/")
    assert page.status_code == 200
    assert "<html" in page.text.lower() and "board.js" in page.text
    for name, kind in (("board.js", "javascript"), ("board.css", "css")):
        response = world.client.get(f"/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]


def test_the_board_uses_only_its_own_files(world: World) -> None:
    """No CDN: every script and stylesheet is served by the API itself."""
    page = world.client.get("/").text
    assert "http://" not in page and "https://" not in page
    js = world.client.get("/board.js").text
    assert '"/events?ticket="' in js  # live updates through EventSource, a single-use ticket in the query


def test_the_board_script_parses() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the board's script is not syntax-checked")
    script = resources.files("api").joinpath("static", "board.js")
    result = subprocess.run([node, "--check", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
