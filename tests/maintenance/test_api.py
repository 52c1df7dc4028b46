"""``/api/v1/maintenance``: windows planned, listed and cancelled; visits recorded and listed; the engineer
scope; and a visit or window that names what the site does not know is refused with 422."""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine

from facwatch.model import Company, Maintenance
from tests.api.conftest import World
from tests.api.conftest import state_engine as state_engine  # the API's fixtures, re-exported
from tests.api.conftest import world as world

WINDOW = {
    "asset": "b1-elev-1",
    "start": "2024-05-05T09:00:00+08:00",
    "end": "2024-05-05T11:00:00+08:00",
    "what": "半月保养 half-monthly maintenance",
}


def test_windows_are_planned_listed_and_cancelled(world: World) -> None:
    c, engineer = world.client, world.auth("engineer")
    assert c.post("/api/v1/maintenance/windows", json=WINDOW, headers=world.auth("viewer")).status_code == 403
    made = c.post("/api/v1/maintenance/windows", json=WINDOW, headers=engineer)
    assert made.status_code == 201, made.text
    window = made.json()
    assert window["ref"] == "W-000001" and window["start"].startswith("2024-05-05T01:00:00")
    assert window["source"] == "api"
    listed = c.get("/api/v1/maintenance/windows?asset=b1-elev-1", headers=engineer).json()
    assert [w["ref"] for w in listed["items"]] == ["W-000001"]
    assert c.delete("/api/v1/maintenance/windows/W-000001", headers=engineer).status_code == 204
    assert c.get("/api/v1/maintenance/windows", headers=engineer).json()["items"] == []
    assert c.delete("/api/v1/maintenance/windows/W-000001", headers=engineer).status_code == 404


def test_mistakes_answer_422(world: World) -> None:
    c, engineer = world.client, world.auth("engineer")
    for bad in (
        {**WINDOW, "asset": "nowhere"},
        {**WINDOW, "end": "2024-05-05T08:00:00+08:00"},  # before its start
        {**WINDOW, "end": "2024-07-05T08:00:00+08:00"},  # two months long
        {**WINDOW, "start": "9999-12-30T00:00:00Z", "end": "9999-12-31T00:00:00Z"},  # not planned work
        {**WINDOW, "company": "otis"},
        {**WINDOW, "colour": "red"},
    ):
        answer = c.post("/api/v1/maintenance/windows", json=bad, headers=engineer)
        assert answer.status_code == 422, bad


def test_visits_are_recorded_and_listed(world: World, state_engine: Engine) -> None:
    company = Company("sh-lift", "上海电梯维保 Shanghai Lift Service")
    site = dataclasses.replace(world.site, maintenance=Maintenance(companies=(company,)))
    world.app.state.services = dataclasses.replace(world.app.state.services, site=site)
    c, engineer = world.client, world.auth("engineer")
    visit = {
        "asset": "b1-elev-1",
        "who": "李师傅 Li",
        "company": "sh-lift",
        "at": "2024-04-28T10:00:00+08:00",
        "what": "半月保养：门机、曳引机、制动器检查",
        "photos": ["https://photos.example/1.jpg"],
    }
    made = c.post("/api/v1/maintenance/visits", json=visit, headers=engineer)
    assert made.status_code == 201, made.text
    assert made.json()["ref"] == "V-000001" and made.json()["building"] == "b1"
    listed = c.get("/api/v1/maintenance/visits?since=2024-04-01T00:00:00Z", headers=engineer).json()["items"]
    assert [(v["who"], v["photos"]) for v in listed] == [("李师傅 Li", ["https://photos.example/1.jpg"])]
    unknown = c.post("/api/v1/maintenance/visits", json={**visit, "company": "otis"}, headers=engineer)
    assert unknown.status_code == 422 and "otis" in unknown.json()["detail"]
    future = c.post(
        "/api/v1/maintenance/visits", json={**visit, "at": "2024-06-01T00:00:00Z"}, headers=engineer
    )
    assert future.status_code == 422 and "future" in future.json()["detail"]


def test_a_window_is_moved(world: World) -> None:
    c, engineer = world.client, world.auth("engineer")
    made = c.post("/api/v1/maintenance/windows", json=WINDOW, headers=engineer).json()
    new = {"start": "2024-05-06T09:00:00+08:00", "end": "2024-05-06T11:00:00+08:00"}
    moved = c.patch(f"/api/v1/maintenance/windows/{made['ref']}", json=new, headers=engineer)
    assert moved.status_code == 200, moved.text
    assert moved.json()["start"].startswith("2024-05-06T01:00:00") and moved.json()["what"] == WINDOW["what"]
    backwards = {"start": new["end"], "end": new["start"]}
    assert (
        c.patch("/api/v1/maintenance/windows/W-000001", json=backwards, headers=engineer).status_code == 422
    )
    assert c.patch("/api/v1/maintenance/windows/S-1", json=new, headers=engineer).status_code == 404
    assert (
        c.patch("/api/v1/maintenance/windows/W-000001", json=new, headers=world.auth("viewer")).status_code
        == 403
    )


def test_an_inspection_is_recorded_as_one(world: World) -> None:
    c, engineer = world.client, world.auth("engineer")
    visit = {"asset": "b1-elev-1", "who": "市特检院", "at": "2024-04-28T10:00:00+08:00", "what": "年检"}
    made = c.post("/api/v1/maintenance/visits", json={**visit, "kind": "inspection"}, headers=engineer)
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "inspection"
    plain = c.post("/api/v1/maintenance/visits", json=visit, headers=engineer)
    assert plain.json()["kind"] == "maintenance"
    wrong = c.post("/api/v1/maintenance/visits", json={**visit, "kind": "repair"}, headers=engineer)
    assert wrong.status_code == 422
