"""Arrival signs survive a restart: the car moves under rescue control, facwatch restarts (a new engine on the
same state database, nothing in memory), then the engineer checks in: the ticket still says the sensors
corroborate the arrival, and the SLA report counts it so. A pump's local stop the same way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, inspect, select

from alerts.engine.arrival_db import arrival_signs
from alerts.engine.ports import AlertQuery
from facwatch.model import Finding, Level, TicketAction, ms_from_utc
from facwatch.state import migrate, open_engine
from tests.alerts.helpers import DATABASES, state_engine
from tests.api.test_migration import _downgrade
from tests.fixtures.receivers import HttpReceiver
from tests.maintenance.test_tickets import DAY_T, RESCUE, Desk, compound


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def test_a_restart_between_the_sign_and_the_check_in_keeps_the_corroboration(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    site = compound(http_receiver)
    before = Desk(engine, site, http_receiver)
    trapped = before.trapped("b2-elev-1", DAY_T)
    before.feed("b2-elev-1", RESCUE, DAY_T + timedelta(minutes=2), 5)  # the car moves under rescue control
    before.service.tick(DAY_T + timedelta(minutes=2, seconds=6))  # the runtime's tick (every 0.5 s)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(arrival_signs)).scalar_one() >= 1
    before.dispatcher.close()

    after = Desk(engine, site, http_receiver)  # restarted: no sign in memory
    assert after.service.signs.newest("b2-elev-1") is None
    code = {a.id: a.checkin_code for a in site.assets}
    ticket = after.act(
        trapped.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=4), checkin_code=code["b2-elev-1"]
    )
    assert ticket.arrival == "corroborated"
    (check_in,) = [e for e in ticket.timeline if e.action == "check_in"]
    assert "moved under inspection or rescue control" in check_in.note
    # Another asset's sign does not corroborate: a second entrapment checked in with the code only.
    other = after.trapped("b1-elev-1", DAY_T + timedelta(minutes=1))
    plain = after.act(
        other.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=5), checkin_code=code["b1-elev-1"]
    )
    assert plain.arrival == "code"
    (red,) = [
        r
        for r in after.service.sla_report(site=None, since=DAY_T, until=DAY_T + timedelta(hours=1))
        if r.level is Level.RED and r.company is None
    ]
    assert (red.arrived, red.arrived_corroborated) == (2, 1)
    after.dispatcher.close()


def test_a_pump_stopped_locally_before_a_restart_corroborates_the_check_in_after_it(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    site = compound(http_receiver)
    before = Desk(engine, site, http_receiver)
    before.feed("b1-pump-1", {"running": 1.0}, DAY_T, 2)
    before.feed("b1-pump-1", {"running": 0.0}, DAY_T + timedelta(seconds=2), 2)  # stopped at the pump
    before.service.tick(DAY_T + timedelta(seconds=5))
    before.dispatcher.close()
    after = Desk(engine, site, http_receiver)
    finding = Finding(
        site.id, "b1-pump-1", "pump.wear_predicted", ms_from_utc(DAY_T), True, Level.YELLOW, "bearing wear"
    )
    after.service.observe_findings([finding], DAY_T + timedelta(seconds=6))
    (alert,) = after.service.list_alerts(AlertQuery(asset="b1-pump-1")).items
    code = {a.id: a.checkin_code for a in site.assets}
    ticket = after.act(
        alert.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=10), checkin_code=code["b1-pump-1"]
    )
    assert ticket.arrival == "corroborated"
    assert any("stopped locally" in e.note for e in ticket.timeline if e.action == "check_in")


def test_migration_0016_matches_the_table_and_downgrades(tmp_path: Path) -> None:
    made = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(made)
    columns = {c["name"]: c for c in inspect(made).get_columns("arrival_signs")}
    assert set(columns) == {c.name for c in arrival_signs.columns}
    for column in arrival_signs.columns:
        assert bool(columns[column.name]["nullable"]) == bool(column.nullable), column.name
    _downgrade(made, "0015")
    assert "arrival_signs" not in inspect(made).get_table_names()
    migrate(made)
    assert "arrival_signs" in inspect(made).get_table_names()
    made.dispose()


def test_a_tick_that_fails_keeps_the_sign_for_the_next_one(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    site = compound(http_receiver)
    desk = Desk(engine, site, http_receiver)
    trapped = desk.trapped("b2-elev-1", DAY_T)
    desk.feed("b2-elev-1", RESCUE, DAY_T + timedelta(minutes=2), 5)
    refused = {"once": True}

    def blip(_conn: object) -> None:  # the tick's transaction fails once, as in a state-database blip
        if refused.pop("once", False):
            raise ConnectionError("state database unreachable")

    desk.service.fencing = blip
    with pytest.raises(ConnectionError):
        desk.service.tick(DAY_T + timedelta(minutes=2, seconds=6))
    desk.service.tick(DAY_T + timedelta(minutes=2, seconds=7))
    desk.dispatcher.close()

    after = Desk(engine, site, http_receiver)  # restarted: only the stored sign corroborates
    code = {a.id: a.checkin_code for a in site.assets}
    ticket = after.act(
        trapped.ticket_id, TicketAction.CHECK_IN, DAY_T + timedelta(minutes=4), checkin_code=code["b2-elev-1"]
    )
    assert ticket.arrival == "corroborated"
    after.dispatcher.close()
