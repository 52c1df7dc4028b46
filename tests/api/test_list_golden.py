"""The tickets and alerts lists, and tickets with their timelines, answer exactly the JSON they answered before
the read path was made faster (issue 13, part 7): a seeded set that fills every column, on SQLite and on
PostgreSQL, through the real app and the real ``AlertService``, against answers kept in
``tests/api/data/lists_golden.json`` (written by the read path before the change).

To write the answers anew after a deliberate change of the JSON: ``FACWATCH_WRITE_GOLDEN=1 pytest <this file>``
(then review the diff).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from alerts.engine import db as adb
from alerts.engine.events import EventBus
from alerts.engine.service import AlertService
from alerts.notify.outbox import OutboxNotifier
from api.auth import TokenStore
from api.deps import ApiServices
from api.main import create_app
from facwatch.clock import ManualClock
from facwatch.config import SlaSettings, load_site
from facwatch.model import AlertState, Level, Site, TicketState
from tests.alerts.helpers import DATABASES
from tests.api.fakes import FakeDeadLetters, FakeTelemetry
from tests.fixtures.postgres import state_engine

GOLDEN = Path(__file__).parent / "data" / "lists_golden.json"
T = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TICKETS = 80
ALERTS = 110

REQUESTS = [
    "/tickets?limit=30",
    "/tickets?state=open&limit=50",
    "/tickets?source=owner",
    "/tickets?level=red&limit=7",
    "/alerts?limit=40",
    "/alerts?state=firing",
    *(f"/tickets/T-{pk:06d}" for pk in range(1, TICKETS + 1, 9)),
    *(f"/alerts/A-{pk:06d}" for pk in (1, 2, ALERTS)),
]
"""What is asked; every page of a list is followed by its ``next`` cursor to the end."""


def _when(rng: random.Random, base: datetime, most_s: int = 86_400) -> datetime:
    return base + timedelta(seconds=rng.randrange(most_s), microseconds=rng.randrange(1_000_000))


def _maybe(rng: random.Random, value: Any) -> Any:
    return value if rng.random() < 0.5 else None


def seed(engine: Engine, site: Site) -> None:
    """Tickets, alerts, links and timelines filling every column the lists read, from a fixed seed: tickets of
    both sources in every state, tickets with no alert and with several, alerts with no ticket, same-time
    tickets (the cursor's tie-break), times with microseconds."""
    rng = random.Random(13)
    assets = list(site.assets)
    levels, states = list(Level), list(TicketState)
    tickets, alerts, links, events = [], [], [], []
    for pk in range(1, TICKETS + 1):
        asset = assets[pk % len(assets)]
        created = T + timedelta(minutes=37 * (pk - pk % 5))  # groups of five share a time
        owner = pk % 4 == 0
        tickets.append(
            {
                "id": pk, "site": site.id, "asset": asset.id, "building": asset.building,
                "kind": "owner.water" if owner else f"{asset.kind.value}.fault{pk % 3}",
                "level": levels[pk % 4].value, "state": states[pk % len(states)].value,
                "title": f"ticket {pk}: {'水管漏水' if owner else 'fault'}", "created_at": created,
                "updated_at": _when(rng, created), "assignee": _maybe(rng, f"engineer-{pk % 3}"),
                "acknowledged_at": _maybe(rng, _when(rng, created, 600)),
                "on_site_at": _maybe(rng, _when(rng, created, 3600)),
                "resolved_at": _maybe(rng, _when(rng, created)),
                "ack_due": _maybe(rng, created + timedelta(minutes=1)),
                "on_site_due": _maybe(rng, created + timedelta(minutes=3)),
                "fixed_due": _maybe(rng, created + timedelta(hours=24)),
                "escalation_step": pk % 3, "source": "owner" if owner else "sensor",
                "unit": f"{pk % 9 + 1}-{pk % 4 + 1}01" if owner else None,
                "category": "water" if owner else None,
                "description": f"water on the floor of unit {pk}" if owner else "",
                "photo_urls": json.dumps([f"https://example.org/{pk}-{i}.jpg" for i in range(pk % 3)]),
                "location": _maybe(rng, "basement"), "progress_percent": _maybe(rng, rng.randrange(101) / 2),
                "eta": _maybe(rng, _when(rng, created)), "closed_at": _maybe(rng, _when(rng, created)),
                "follow_up_due": _maybe(rng, _when(rng, created)),
            }
        )  # fmt: skip
        for n in range(pk % 4):  # 0 to 3 timeline entries
            action = ["opened", "acknowledge", "comment"][n]
            events.append(
                {"ticket_id": pk, "ts": _when(rng, created, 600 * (n + 1)), "action": action,
                 "actor": f"engineer-{n}", "note": f"note {n} of {pk}"}
            )  # fmt: skip
    for pk in range(1, ALERTS + 1):
        asset = assets[pk % len(assets)]
        opened = T + timedelta(minutes=29 * (pk - pk % 3))
        firing = pk % 6 == 0
        alerts.append(
            {
                "id": pk, "site": site.id, "asset": asset.id, "building": asset.building,
                "kind": f"{asset.kind.value}.fault{pk}", "level": levels[pk % 4].value,
                "state": (AlertState.FIRING if firing else AlertState.RESOLVED).value,
                "summary": f"alert {pk}", "opened_at": opened, "updated_at": _when(rng, opened),
                "cleared_at": None if firing else _maybe(rng, _when(rng, opened)),
                "resolved_at": None if firing else _when(rng, opened),
                "acknowledged_at": _maybe(rng, _when(rng, opened, 600)),
                "acknowledged_by": _maybe(rng, "engineer-1"), "count": pk % 5 + 1,
                "value": _maybe(rng, rng.random()), "silenced_until": _maybe(rng, _when(rng, opened)),
                "silence_reason": _maybe(rng, "works"), "silenced_by": None,
                "suppressed_by": _maybe(rng, "A-000001"), "flapping": pk % 7 == 0, "late": pk % 11 == 0,
                "predicted_at": _maybe(rng, _when(rng, opened)),
            }
        )  # fmt: skip
        ticket = pk if pk <= TICKETS else pk - TICKETS  # the last alerts join earlier tickets
        if pk % 10 != 5:  # some alerts have no ticket, some tickets no alert
            links.append({"ticket_id": ticket, "alert_id": pk})
    with engine.begin() as conn:
        conn.execute(insert(adb.alerts), alerts)
        conn.execute(insert(adb.tickets), tickets)
        conn.execute(insert(adb.ticket_alerts), links)
        conn.execute(insert(adb.ticket_events), events)


@pytest.fixture(params=DATABASES)
def desk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    for engine in state_engine(request, tmp_path):
        site = load_site("demo", variables={"data_dir": str(tmp_path)})
        seed(engine, site)
        bus = EventBus()
        clock = ManualClock(T + timedelta(days=10))
        tokens = TokenStore(engine, clock)
        services = ApiServices(
            site=site,
            alerts=AlertService(engine, site, SlaSettings(), bus, OutboxNotifier(site)),
            telemetry=FakeTelemetry(),
            dead_letters=FakeDeadLetters(),
            tokens=tokens,
            bus=bus,
            clock=clock,
        )
        with TestClient(create_app(services)) as client:
            yield client, {"Authorization": f"Bearer {tokens.create('viewer', ['viewer'])}"}
        bus.close()


def _answers(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    """Each request's JSON, and every further page of a list (``&cursor=``) under its own key."""
    out: dict[str, Any] = {}
    for path in REQUESTS:
        url = path
        while url:
            response = client.get(f"/api/v1{url}", headers=headers)
            assert response.status_code == 200, (url, response.text)
            out[url] = body = response.json()
            cursor = body.get("next") if "items" in body else None
            url = f"{path}{'&' if '?' in path else '?'}cursor={cursor}" if cursor else ""
    return out


def test_the_lists_and_timelines_answer_what_they_answered_before(
    desk: tuple[TestClient, dict[str, str]],
) -> None:
    answers = _answers(*desk)
    if os.environ.get("FACWATCH_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(answers, ensure_ascii=False, indent=1) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert list(answers) == list(golden)  # the same requests and pages
    for url, body in golden.items():
        # Key order included: the JSON is the same text, not only the same values.
        assert json.dumps(answers[url], ensure_ascii=False) == json.dumps(body, ensure_ascii=False), url
    pages = [body for url, body in answers.items() if url.startswith("/tickets?limit=30")]
    listed = [item for page in pages for item in page["items"]]
    assert len(listed) == TICKETS and len({t["id"] for t in listed}) == TICKETS
    assert any(len(t["alert_ids"]) > 1 for t in listed) and any(not t["alert_ids"] for t in listed)
    timelines = [answers[url]["timeline"] for url in answers if url.startswith("/tickets/")]
    assert {len(t) for t in timelines} == {0, 1, 2, 3}
