"""The big lists write alerts and tickets to JSON on a fast path (api/schemas.py); it must say exactly what the
documented schemas and the event stream say (alerts/engine/store.py alert_json / ticket_json), field for field."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert

from alerts.engine import db as adb
from alerts.engine import rows, rowspec, store
from alerts.engine.ports import TicketQuery
from api.schemas import AlertOut, TicketOut, alert_dict, page_response, ticket_dict
from bench.api_load import seed
from facwatch.config import load_site
from facwatch.model import Alert, AlertState, Deadlines, Level, Ticket, TicketState
from tests.fixtures.postgres import state_engine

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
TIMES = st.builds(
    lambda s, us, tz: datetime(2026, 1, 1, tzinfo=UTC).astimezone(tz) + timedelta(seconds=s, microseconds=us),
    st.integers(0, 10**8),
    st.integers(0, 999_999),
    ZONES,
)
MAYBE_TIME = st.none() | TIMES
TEXT = st.text(max_size=20)

ALERTS = st.builds(
    Alert,
    id=st.just("A-000001"),
    site=st.just("lakeside"),
    asset=st.just("b1-elev-1"),
    building=st.just("b1"),
    kind=st.just("elevator.entrapment"),
    level=st.sampled_from(Level),
    state=st.sampled_from(AlertState),
    summary=TEXT,
    opened_at=TIMES,
    updated_at=TIMES,
    ticket_id=st.none() | st.just("T-000001"),
    resolved_at=MAYBE_TIME,
    acknowledged_at=MAYBE_TIME,
    acknowledged_by=st.none() | TEXT,
    count=st.integers(1, 1000),
    escalation_step=st.integers(0, 5),
    silenced_until=MAYBE_TIME,
    silence_reason=st.none() | TEXT,
)

TICKETS = st.builds(
    Ticket,
    id=st.just("T-000001"),
    site=st.just("lakeside"),
    asset=st.just("b1-pump-1"),
    building=st.just("b1"),
    kind=st.just("pump.pipe_burst"),
    level=st.sampled_from(Level),
    state=st.sampled_from(TicketState),
    title=TEXT,
    created_at=TIMES,
    updated_at=TIMES,
    deadlines=st.builds(Deadlines, MAYBE_TIME, MAYBE_TIME, MAYBE_TIME),
    alert_ids=st.lists(st.just("A-000001"), max_size=2).map(tuple),
    assignee=st.none() | TEXT,
    acknowledged_at=MAYBE_TIME,
    on_site_at=MAYBE_TIME,
    resolved_at=MAYBE_TIME,
    source=st.sampled_from(["sensor", "owner"]),
    unit=st.none() | TEXT,
    category=st.none() | TEXT,
    description=TEXT,
    photo_urls=st.lists(st.just("https://example.org/p.jpg"), max_size=2).map(tuple),
    location=st.none() | TEXT,
    progress_percent=st.none() | st.floats(0, 100),
    eta=MAYBE_TIME,
)


def _fast(item: dict[str, object]) -> object:
    body = page_response([item], None).body
    return orjson.loads(body)["items"][0]


@settings(max_examples=200, deadline=None)
@given(ALERTS)
def test_fast_alert_json_is_the_schema_and_the_event_stream(alert: Alert) -> None:
    fast = _fast(alert_dict(alert))
    assert fast == AlertOut.from_alert(alert).model_dump(mode="json")
    assert isinstance(fast, dict) and set(fast.pop("label")) == {"zh", "en"}  # the API's words beside `kind`
    assert fast == orjson.loads(orjson.dumps(dict(store.alert_json(alert))))


@settings(max_examples=200, deadline=None)
@given(TICKETS)
def test_fast_ticket_json_is_the_schema_and_the_event_stream(ticket: Ticket) -> None:
    fast = _fast(ticket_dict(ticket))
    assert fast == TicketOut.from_ticket(ticket).model_dump(mode="json")
    assert fast == orjson.loads(orjson.dumps(dict(store.ticket_json(ticket))))


@pytest.mark.parametrize("spec", [rows.ALERT, rows.TICKET], ids=["alert", "ticket"])
def test_one_column_spec_fills_every_field_once(
    spec: rowspec.RowSpec[Alert] | rowspec.RowSpec[Ticket],
) -> None:
    """One column spec makes both a list's query and its row mapping: every field of the value is read from
    exactly one column (or given by the caller), and the query selects the spec's columns in its order."""
    fields = [read.field for read in spec.reads] + list(spec.given)
    assert len(fields) == len(set(fields))
    stored = {f.name for f in dataclasses.fields(spec.target)} - set(spec.nested)
    for outer, cls in spec.nested.items():
        stored |= {f"{outer}.{f.name}" for f in dataclasses.fields(cls)}
    assert set(fields) == stored
    assert spec.columns == tuple(read.column for read in spec.reads)


def test_a_spec_that_misses_or_repeats_a_field_is_refused_when_it_is_built() -> None:
    reads = rows.TICKET.reads
    with pytest.raises(rowspec.SpecError, match=r"twice \['site'\], missing \['title'\]"):
        rowspec.RowSpec(
            Ticket,
            tuple(r if r.field != "title" else dataclasses.replace(r, field="site") for r in reads),
            nested={"deadlines": Deadlines},
            given=("timeline",),
        )
    with pytest.raises(rowspec.SpecError, match=r"missing \['timeline'\]"):
        rowspec.RowSpec(Ticket, reads, nested={"deadlines": Deadlines})


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """250 tickets as the API benchmark seeds them; ticket 200 has a second alert (the newest one's)."""
    for engine in state_engine(request, tmp_path):
        seed(engine, load_site("demo", variables={"data_dir": str(tmp_path)}), 250, datetime.now(UTC))
        with engine.begin() as conn:
            conn.execute(delete(adb.ticket_alerts).where(adb.ticket_alerts.c.alert_id == 250))
            conn.execute(insert(adb.ticket_alerts), [{"ticket_id": 200, "alert_id": 250}])
        yield engine


def test_the_ticket_pages_are_the_tickets_with_their_alerts(seeded: Engine) -> None:
    """Paging the tickets list (one statement per page) gives every ticket once, newest first, each as
    ``get_ticket`` reads it, with all its alert ids: the page limit counts tickets, not alert links."""
    seen: list[Ticket] = []
    cursor = None
    with seeded.connect() as conn:
        while True:
            page = store.list_tickets(conn, TicketQuery(limit=100, cursor=cursor))
            assert len(page.items) <= 100
            seen += page.items
            if page.next is None:
                break
            cursor = page.next
        assert [t.id for t in seen] == [f"T-{pk:06d}" for pk in range(250, 0, -1)]
        assert seen[0].alert_ids == () and seen[50].alert_ids == ("A-000200", "A-000250")
        for ticket in seen[::25]:
            pk = int(ticket.id.removeprefix("T-"))
            assert ticket == dataclasses.replace(store.get_ticket(conn, pk), timeline=())
