"""Request bodies with text that JSON carries but the state databases or UTF-8 cannot (NUL, a lone surrogate),
on the real engine over SQLite and PostgreSQL: each is a 422 that says what is wrong, the same on both
databases, never a 500; the ticket is unchanged and the next good request works."""

from __future__ import annotations

from tests.api.fakes import T0
from tests.api.test_with_alert_service import Desk, any_desk  # noqa: F401 (the fixture)

WRONG = "check-in refused: the code does not match the one posted at the asset"


def test_a_nul_in_a_ticket_action_is_422_on_every_database(any_desk: Desk) -> None:  # noqa: F811
    desk = any_desk
    desk.alarm("b1-elev-1", T0)
    ticket_id = desk.get("/tickets")["items"][0]["id"]
    before = desk.get(f"/tickets/{ticket_id}")["timeline"]
    refused = desk.act(ticket_id, action="comment", note="owner called\x00 back")
    assert refused.status_code == 422, refused.text
    assert "NUL" in refused.text and "note" in refused.text
    assert desk.get(f"/tickets/{ticket_id}")["timeline"] == before
    assert desk.act(ticket_id, action="comment", note="owner called back").status_code == 200


def test_an_owner_ticket_with_a_nul_is_422_on_every_database(any_desk: Desk) -> None:  # noqa: F811
    desk = any_desk
    body = {"text": "No water\x00 on the 15th floor", "category": "leak", "building": "b1"}
    refused = desk.client.post("/api/v1/tickets", json=body, headers=desk.headers)
    assert refused.status_code == 422, refused.text
    assert "NUL" in refused.text and "text" in refused.text
    assert desk.get("/tickets")["items"] == []


def test_a_lone_surrogate_is_422_and_a_wrong_code_is_said_once(any_desk: Desk) -> None:  # noqa: F811
    desk = any_desk
    desk.alarm("b1-elev-1", T0)
    ticket_id = desk.get("/tickets")["items"][0]["id"]
    raw = b'{"action": "check_in", "checkin_code": "\\ud800QJ9N"}'  # valid JSON, not valid UTF-8 text
    url = f"/api/v1/tickets/{ticket_id}/actions"
    odd = desk.client.post(url, content=raw, headers={**desk.headers, "Content-Type": "application/json"})
    assert odd.status_code == 422, odd.text
    assert odd.json()["detail"][0]["loc"] == ["body", "checkin_code"]
    wrong = desk.act(ticket_id, action="check_in", checkin_code="1234")
    assert (wrong.status_code, wrong.json()["detail"]) == (422, WRONG)
    arrived = desk.act(ticket_id, action="check_in", checkin_code="QJ9N-39Y3")
    assert arrived.status_code == 200 and arrived.json()["state"] == "on_site"


def test_a_nul_in_a_query_or_a_path_is_422_on_every_database(any_desk: Desk) -> None:  # noqa: F811
    desk = any_desk
    desk.alarm("b1-elev-1", T0)
    for path, params in [
        ("/api/v1/alerts", {"building": "b1\x00"}),  # a filter: it reached PostgreSQL (500)
        ("/api/v1/tickets", {"building": "b1\x00"}),
        ("/api/v1/alerts", {"site": "\x00"}),
        ("/api/v1/maintenance/windows", {"asset": "\x00"}),
        ("/api/v1/webhooks/%00", {}),  # a path
    ]:
        refused = desk.client.get(path, params=params, headers=desk.headers)
        assert refused.status_code == 422, (path, params, refused.text)
        assert "NUL" in refused.json()["detail"]
    [alert] = desk.get("/alerts", building="b1")["items"]
    assert alert["level"] == "red"
