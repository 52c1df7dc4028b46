"""Numbers and errors: every id, cursor and time parameter out of range is a 422 naming it (never a 500),
raw readings are capped with a 422 that asks for windows, and an internal error is a 500 with a reference
and no traceback."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from facwatch.model import Point
from tests.api.conftest import World

HUGE = "9" * 30

OUT_OF_RANGE = [
    ("/api/v1/alerts", {"since": HUGE}),  # epoch ms past any datetime
    ("/api/v1/alerts", {"until": "-" + HUGE}),  # far before 1970
    ("/api/v1/alerts", {"since": "99999-01-01"}),  # year out of range
    ("/api/v1/alerts", {"since": "0001-01-01T00:00:00+14:00"}),  # before datetime.min in UTC
    ("/api/v1/reports/sla", {"since": "9999-12-31T23:59:59-14:00"}),  # after datetime.max in UTC
    ("/api/v1/assets", {"cursor": HUGE}),
    ("/api/v1/assets", {"cursor": "²"}),  # a digit to str.isdigit, not to int
    ("/api/v1/assets", {"limit": HUGE}),
    ("/api/v1/assets/b1-pump-1/readings", {"channel": "p", "start": "0", "end": HUGE}),
    (
        "/api/v1/assets/b1-pump-1/readings",
        {"channel": "p", "start": "0", "end": "1", "every": "9" * 12 + "d"},
    ),
    ("/api/v1/assets/b1-pump-1/readings", {"channel": "p", "start": "0", "end": "1", "every": "1e400"}),
    ("/api/v1/assets/b1-pump-1/readings", {"channel": "p", "start": "0", "end": "1", "limit": "0"}),
    ("/api/v1/dead-letters", {"limit": "-1"}),
]


@pytest.mark.parametrize(("path", "params"), OUT_OF_RANGE)
def test_out_of_range_parameters_are_422(world: World, path: str, params: dict[str, str]) -> None:
    response = world.client.get(path, params=params, headers=world.auth())
    assert response.status_code == 422, (path, params, response.status_code, response.text[:300])


def test_webhook_delivery_cursor_out_of_range(world: World) -> None:
    body = {"url": "http://127.0.0.1:9/x", "events": ["alert"]}
    hook = world.client.post("/api/v1/webhooks", json=body, headers=world.auth()).json()
    for cursor in (HUGE, "²", "-1"):
        response = world.client.get(
            f"/api/v1/webhooks/{hook['id']}/deliveries", params={"cursor": cursor}, headers=world.auth()
        )
        assert response.status_code == 422, (cursor, response.text)


def test_raw_readings_are_capped_and_the_answer_asks_for_windows(world: World) -> None:
    world.telemetry.points = [Point(ts_ms=1_000 * i, channel="p", value=float(i)) for i in range(50)]
    params = {"channel": "p", "start": "0", "end": "100000"}
    ok = world.client.get(
        "/api/v1/assets/b1-pump-1/readings", params=params | {"limit": "50"}, headers=world.auth()
    )
    assert ok.status_code == 200 and len(ok.json()["points"]) == 50
    capped = world.client.get(
        "/api/v1/assets/b1-pump-1/readings", params=params | {"limit": "49"}, headers=world.auth()
    )
    assert capped.status_code == 422 and "every=" in capped.text
    windows = world.client.get(
        "/api/v1/assets/b1-pump-1/readings",
        params=params | {"limit": "49", "every": "10s"},
        headers=world.auth(),
    )
    assert windows.status_code == 200


def test_an_internal_error_is_a_500_with_a_reference_and_no_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> object:
        raise RuntimeError("secret internals: /srv/facwatch/state.db password=hunter2")

    monkeypatch.setattr(world.alerts, "get_alert", broken)
    with TestClient(world.app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/alerts/A-1", headers=world.auth())
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal error" and len(body["ref"]) == 12
    assert "Traceback" not in response.text and "hunter2" not in response.text
