"""A restart's catch-up judges a whole stretch of history at once: an alert that was normal for its hold before
the next incident began resolves first, and the next incident opens an alert of its own and is told.

Before, the catch-up's onset counted as a repeat on the old alert when no tick had resolved it in between
(a process killed again within half a second of its start, as in tests/reliability/test_sigkill.py): the
second entrapment merged into the first (count 2), nobody was told of it, and the test's "every fault's
alert resolved" waited for an alert that never came (17 of 18). Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from facwatch.model import AlertPolicy, AlertState, Finding, Level, ms_from_utc
from tests.alerts.helpers import DATABASES, Harness, demo_site
from tests.fixtures.postgres import state_engine
from tests.fixtures.receivers import HttpReceiver

ELEVATOR, ENTRAPMENT = "b1-elev-1", "elevator.entrapment"


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from state_engine(request, tmp_path)


def test_an_incident_after_the_hold_opens_its_own_alert_though_no_tick_ran_between(
    engine: Engine, http_receiver: HttpReceiver
) -> None:
    site = dataclasses.replace(demo_site(http_receiver), alerts=AlertPolicy())
    h = Harness(engine, site, words=False)

    def finding(at_s: float, active: bool) -> Finding:
        ms = ms_from_utc(h.at(at_s))
        return Finding("lakeside", ELEVATOR, ENTRAPMENT, ms, active, Level.RED, "trapped")

    h.service.observe_findings([finding(0, True)])
    h.service.observe_findings([finding(8, False)])  # normal again: the hold (60 s) starts
    # the catch-up: 35 s later the car traps someone again, no tick having run since
    h.service.observe_findings([finding(8 + 60 + 35, True)])

    alerts = sorted(h.service.list_alerts().items, key=lambda a: a.opened_at)
    mine = [a for a in alerts if a.kind == ENTRAPMENT]
    assert [(a.state, a.count) for a in mine] == [(AlertState.RESOLVED, 1), (AlertState.FIRING, 1)]
    assert mine[0].resolved_at is not None and mine[0].resolved_at <= h.at(8 + 60 + 35)
    assert len(h.kinds("opened")) == 2  # the second one told too
