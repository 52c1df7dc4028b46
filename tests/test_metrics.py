"""The scrape-time metrics read the state database, so they are right whichever process wrote it: rows written
through one engine (a worker) are exported through another (the API process), on SQLite and PostgreSQL.
An unreachable database leaves the scrape answering, without those families."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, insert

from alerts.engine import metrics as engine_metrics
from alerts.engine.db import alerts, new_pk, notification_receipts, notifications, sla_clocks, tickets
from alerts.notify import metrics as notify_metrics
from alerts.notify.metrics import channel_of
from api import metrics as api_metrics
from api.db import webhook_deliveries, webhooks
from api.readiness import Check, Readiness, state_db_probe
from tests.fixtures.postgres import state_engine as migrated

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def worker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated(request, tmp_path)


@pytest.fixture
def api_process(worker: Engine) -> Iterator[Engine]:
    """A second engine on the same database, as another process would open it, watched by the collectors."""
    engine = create_engine(worker.url.render_as_string(hide_password=False))
    for collector in (engine_metrics.COLLECTOR, notify_metrics.COLLECTOR, api_metrics.WEBHOOKS):
        collector.watch(engine)
    yield engine
    for collector in (engine_metrics.COLLECTOR, notify_metrics.COLLECTOR, api_metrics.WEBHOOKS):
        collector.watch(None)
    engine.dispose()


def samples() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(REGISTRY).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float | None:
    return found.get((name, frozenset(labels.items())))


def _alert(conn: Any, kind: str, level: str, state: str) -> None:
    row = {
        "site": "demo",
        "asset": "b1-elev-1",
        "building": "b1",
        "kind": kind,
        "level": level,
        "state": state,
    }
    conn.execute(insert(alerts).values(**row, summary="s", opened_at=NOW, updated_at=NOW, count=1))


def _ticket(conn: Any) -> int:
    row = {
        "site": "demo",
        "asset": "b1-elev-1",
        "building": "b1",
        "kind": "k",
        "level": "red",
        "state": "open",
    }
    result = conn.execute(
        insert(tickets).values(**row, title="t", created_at=NOW, updated_at=NOW, escalation_step=0)
    )
    return new_pk(result)


def _receipt(conn: Any, notification: int, url: str, status: str, attempts: int) -> None:
    values = {"notification_id": notification, "url": url, "status": status, "attempts": attempts}
    conn.execute(insert(notification_receipts).values(**values, next_attempt_at=NOW, updated_at=NOW))


def test_figures_written_by_one_process_are_exported_by_another(worker: Engine, api_process: Engine) -> None:
    late = NOW - timedelta(minutes=5)  # the on-site clock ran out five minutes ago
    with worker.begin() as conn:
        _alert(conn, "elevator.entrapment", "red", "firing")
        _alert(conn, "elevator.entrapment", "red", "resolved")  # a recurrence after resolution
        _alert(conn, "pump.dry_run", "orange", "firing")
        ticket = _ticket(conn)
        for clock, due in (("acknowledge", NOW + timedelta(days=1)), ("on_site", late), ("fixed", late)):
            stopped = NOW if clock == "fixed" else None  # a stopped clock is neither running nor breached
            row = {"ticket_id": ticket, "clock": clock, "due_at": due, "next_fire_at": due, "fired": 0}
            conn.execute(insert(sla_clocks).values(**row, stopped_at=stopped))
        note = {"site": "demo", "audience": "engineer", "recipient": "p1", "title": "t", "body": "b"}
        red = conn.execute(insert(notifications).values(key="n1", **note, created_at=NOW, level="red"))
        red_id = new_pk(red)
        lost = conn.execute(
            insert(notifications).values(key="n2", **note, created_at=NOW, level="red", undelivered_at=NOW)
        )
        _receipt(conn, red_id, "mailtos://desk:pw@mail.example", "sent", 3)  # two refusals, then delivered
        _receipt(conn, red_id, "json://127.0.0.1:9/hook", "skipped", 0)
        _receipt(conn, new_pk(lost), "mailtos://desk:pw@mail.example", "abandoned", 4)
        hook = {
            "url": "http://127.0.0.1:9/",
            "events": "alert",
            "secret": "s",
            "owner": "o",
            "created_at": NOW,
        }
        conn.execute(insert(webhooks).values(id="w1", **hook))
        for status, attempts in (("delivered", 1), ("delivered", 3), ("failed", 8), ("pending", 2)):
            row = {"webhook_id": "w1", "event_type": "alert", "event_id": 1, "body": "{}", "status": status}
            conn.execute(insert(webhook_deliveries).values(**row, attempts=attempts, created_at=NOW))

    found = samples()
    assert value(found, "facwatch_alerts_opened_total", level="red", kind="elevator.entrapment") == 2
    assert value(found, "facwatch_alerts_opened_total", level="orange", kind="pump.dry_run") == 1
    assert value(found, "facwatch_alerts_firing", level="red") == 1
    assert value(found, "facwatch_alerts_firing", level="blue") == 0
    assert value(found, "facwatch_sla_clocks_running", clock="acknowledge") == 1
    assert value(found, "facwatch_sla_clocks_breached", clock="on_site") == 1
    assert value(found, "facwatch_sla_clocks_breached", clock="fixed") == 0
    assert value(found, "facwatch_notifications_sent_total", channel="mailtos", level="red") == 1
    assert value(found, "facwatch_notifications_failed_total", channel="mailtos", level="red") == 2 + 4
    assert value(found, "facwatch_notifications_failed_total", channel="json", level="red") == 0
    assert value(found, "facwatch_notifications_undelivered", level="red") == 1
    assert value(found, "facwatch_webhooks_delivered_total") == 2
    assert value(found, "facwatch_webhooks_failed_total") == (1 + 3 + 8 + 2) - 2
    assert value(found, "facwatch_webhooks_abandoned_total") == 1
    assert value(found, "facwatch_webhooks_pending") == 1
    assert not any("desk" in str(labels) for _, labels in found), "no address or secret in a label"


def test_a_database_outage_leaves_the_scrape_answering(worker: Engine, api_process: Engine) -> None:
    broken = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    for collector in (engine_metrics.COLLECTOR, notify_metrics.COLLECTOR, api_metrics.WEBHOOKS):
        collector.watch(broken)
    api_metrics.READY.readiness = Readiness(
        [Check("state_db", state_db_probe(broken)), Check("broker", lambda: None)], timeout_s=5
    )
    try:
        found = samples()
    finally:
        api_metrics.READY.readiness = None
    assert not any(name.startswith("facwatch_alerts_") for name, _ in found)
    assert any(name == "facwatch_api_event_streams" for name, _ in found)  # the rest is still there
    # What the FacwatchNotReady rule reads: the database is named as the part that does not work.
    assert value(found, "facwatch_ready", part="state_db") == 0
    assert value(found, "facwatch_ready", part="broker") == 1


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("mailtos://user:secret@mail.example", "mailtos"),  # the scheme only: never the address
        ("JSON://127.0.0.1/x", "json"),  # lower case
        ("not a url", "other"),  # no scheme
        ("we ird://x", "other"),  # a scheme apprise could not have
    ],
)
def test_channel_is_the_scheme(url: str, channel: str) -> None:
    assert channel_of(url) == channel
