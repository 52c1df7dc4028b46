"""A ticket's cost through the API on the real engine: given with resolve or close, kept on the ticket, added
up when a ticket comes back and is repaired again; refused with any other action or below zero."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts.engine.events import EventBus
from alerts.engine.lifecycle import TicketChange
from alerts.engine.ports import ActionRequest
from alerts.engine.service import AlertService
from alerts.engine.tickets import with_cost
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from facwatch.clock import ManualClock
from facwatch.config import SlaSettings, load_site
from facwatch.model import TicketAction, TicketState
from facwatch.state import migrate, open_engine
from tests.alerts.helpers import RecordingNotifier
from tests.api.fakes import T0, FakeDeadLetters, FakeTelemetry


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    site = load_site("demo", variables={"data_dir": str(tmp_path)})
    clock = ManualClock(T0)
    service = AlertService(engine, site, SlaSettings(), EventBus(), RecordingNotifier(site, [], words=False))
    tokens = TokenStore(engine, clock)
    services = ApiServices(site, service, FakeTelemetry(), FakeDeadLetters(), tokens, EventBus(), clock)
    with TestClient(create_app(services, webhooks_worker=False)) as client:
        yield client, {"Authorization": f"Bearer {tokens.create('eng', ['engineer'])}"}
    engine.dispose()


def test_a_cost_goes_with_resolve_or_close_and_adds_up(desk: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = desk

    def act(ticket: str, **body: Any) -> Any:
        return client.post(f"/api/v1/tickets/{ticket}/actions", json=body, headers=headers)

    opened = client.post(
        "/api/v1/tickets",
        json={"building": "b1", "category": "water", "text": "no water on floor 12"},
        headers=headers,
    )
    assert opened.status_code == 201, opened.text
    ticket = opened.json()["id"]
    assert opened.json()["cost"] is None
    refused = act(ticket, action="comment", note="quote", cost=100)
    assert refused.status_code == 422 and "cost goes with resolve or close" in refused.text
    assert act(ticket, action="resolve", cost=-1).status_code == 422
    done = act(ticket, action="resolve", note="valve replaced", cost=120.5)
    assert done.status_code == 200, done.text
    assert done.json()["cost"] == 120.5
    assert "cost 120.5" in done.json()["timeline"][-1]["note"]
    assert act(ticket, action="reopen").status_code == 200
    again = act(ticket, action="resolve", cost=30)
    assert again.json()["cost"] == 150.5  # both repairs
    listed = client.get("/api/v1/tickets", headers=headers).json()["items"]
    assert listed[0]["cost"] == 150.5


@pytest.mark.parametrize(
    ("action", "cost", "so_far", "expected"),
    [
        (TicketAction.RESOLVE, 100.0, None, 100.0),  # the first repair
        (TicketAction.CLOSE, 50.0, 100.0, 150.0),  # a cost at closing adds to what was given at resolve
        (TicketAction.RESOLVE, None, 100.0, None),  # no cost given: nothing changes
        (TicketAction.CANCEL, 10.0, None, "cost goes with resolve or close"),
        (TicketAction.COMMENT, 10.0, None, "cost goes with resolve or close"),
        (TicketAction.RESOLVE, -1.0, None, "cost must be a number >= 0"),
        (TicketAction.RESOLVE, float("nan"), None, "cost must be a number >= 0"),
    ],
)
def test_with_cost(action: TicketAction, cost: float | None, so_far: float | None, expected: object) -> None:
    change = TicketChange(
        state=TicketState.RESOLVED, values={"state": "resolved"}, stops=frozenset(), note="fixed"
    )
    request = ActionRequest(action, "eng", cost=cost)
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=expected):
            with_cost(change, request, so_far)
        return
    got = with_cost(change, request, so_far)
    assert got.values.get("cost") == expected
    if expected is not None:
        assert got.note == f"fixed; cost {cost:g}"
