"""The reports' figures, read from the simulated quarter on SQLite and PostgreSQL, checked against the tickets
the engine answers (its API's view), not against the reports' own arithmetic."""

from __future__ import annotations

from collections import defaultdict

import pytest

from alerts.engine.errors import NotFound
from alerts.engine.periods import parse_period, previous
from alerts.engine.ports import AlertQuery
from alerts.engine.report_figures import MonthlyFigures, QuarterlyFigures, RepairFigures
from alerts.engine.reports import percentile
from alerts.notify.reports.service import Reports
from facwatch.model import Level, Ticket
from tests.reports.quarter import (
    HOURS_PER_DAY,
    LOW,
    PUMP,
    RECTIFICATION_COST,
    RECTIFIED_AT,
    Quarter,
    local,
    visits_of,
)

pytestmark = pytest.mark.integration


def _reports(q: Quarter) -> Reports:
    return Reports(q.engine, q.site, sla=q.sla, telemetry=q.store, visits=visits_of)


def _in(q: Quarter, label: str) -> list[Ticket]:
    period = parse_period(label, q.site.timezone)
    return [t for t in q.tickets.values() if period.start <= t.created_at < period.end]


def _category(q: Quarter, t: Ticket) -> str:
    asset = q.site.asset(t.asset)
    assert asset is not None
    return asset.kind.value


def test_the_quarterly_publication_counts_every_repair_and_cost_per_category(quarter: Quarter) -> None:
    figures = _reports(quarter).figures("quarterly", "b1", "2026-Q3", local(10, 5))
    assert isinstance(figures, QuarterlyFigures)
    expected: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0, 0.0])
    for i, label in ((0, "2026-Q3"), (2, "2026-Q2")):
        for t in _in(quarter, label):
            expected[_category(quarter, t)][i] += 1
            expected[_category(quarter, t)][i + 1] += t.cost or 0.0
    got = {c.category: [c.repairs, c.cost, c.previous_repairs, c.previous_cost] for c in figures.categories}
    assert got == expected
    assert got["pump"] == [
        2,
        300.0 + RECTIFICATION_COST,
        1,
        800.0,
    ]  # three pump repairs on one ticket, and the fix
    assert (figures.repairs, figures.previous_repairs) == (5, 2)
    assert figures.cost == pytest.approx(sum(t.cost or 0.0 for t in _in(quarter, "2026-Q3")))
    assert figures.previous.label == "2026-Q2"


def test_the_quarterly_sla_figures_are_the_sla_reports(quarter: Quarter) -> None:
    figures = _reports(quarter).figures("quarterly", "b2", "2026-Q3", local(10, 5))
    assert isinstance(figures, QuarterlyFigures)
    q3 = parse_period("2026-Q3", quarter.site.timezone)
    assert list(figures.sla) == quarter.service.sla_report(site="lakeside", since=q3.start, until=q3.end)
    orange = next(row for row in figures.sla if row.level is Level.ORANGE)
    answered = [
        (t.acknowledged_at - t.created_at).total_seconds()
        for t in _in(quarter, "2026-Q3")
        if t.level is Level.ORANGE and t.acknowledged_at is not None
    ]
    assert orange.ack_p50_s == pytest.approx(percentile(answered, 50))
    red = next(t for t in figures.targets if t.level is Level.RED)
    assert (red.acknowledge_s, red.on_site_s) == (60, 180)  # the promises printed beside the times


def test_the_monthly_list_counts_visits_hours_faults_and_handling(quarter: Quarter) -> None:
    figures = _reports(quarter).figures("monthly", "b1", "2026-08", local(9, 1))
    assert isinstance(figures, MonthlyFigures)
    assert (figures.maintenance_visits, figures.inspections) == (3, 1)
    assert {v.asset for v in figures.visits} == {"b1-elev-1", "b1-elev-2"}  # b2's visit is not b1's
    hours = {a.asset: a.hours_run for a in figures.assets}
    assert hours["b1-elev-1"] == pytest.approx(HOURS_PER_DAY * 31)
    assert hours["b1-panel"] is None  # no telemetry: left out, not shown as zero
    trips = {a.asset: a.trips for a in figures.assets}
    assert (
        trips["b1-elev-1"] == trips["b1-elev-2"] == 31
    )  # the car starts once a day at 06:00 in the test data
    assert trips["b1-pump-1"] is None  # a pump makes no trips (its hours are above)
    assert [(v.by, v.note) for v in figures.visits][-1] == ("市特检院", "annual inspection passed")
    august = [t for t in _in(quarter, "2026-08") if t.building == "b1"]
    assert [r.ref for r in figures.incidents] == [t.id for t in sorted(august, key=lambda t: t.created_at)]
    responses = [(t.acknowledged_at - t.created_at).total_seconds() for t in august if t.acknowledged_at]
    assert figures.response_p50_s == pytest.approx(percentile(responses, 50))
    # faults on the 1st, 8th and 15th (the pump), and the rectification order open until the 16th
    assert (figures.fault_free_days, figures.days) == (27, 31)


def test_the_repair_report_shows_what_kept_happening_what_was_done_and_the_readings(quarter: Quarter) -> None:
    ticket = quarter.rectification
    figures = _reports(quarter).figures("repair", "b1", ticket.id, local(8, 24))
    assert isinstance(figures, RepairFigures)
    assert figures.base_kind == LOW and figures.ticket.asset == PUMP
    alerts = quarter.service.list_alerts(AlertQuery(asset=PUMP, limit=50)).items
    assert list(figures.occurrences) == sorted(a.opened_at for a in alerts if a.kind == LOW)
    assert len(figures.occurrences) == 3
    notes = " | ".join(e.note for e in figures.timeline)
    assert "worn impeller" in notes and f"cost {RECTIFICATION_COST:g}" in notes
    assert figures.ticket.fixed_at == RECTIFIED_AT and figures.ticket.cost == RECTIFICATION_COST
    assert figures.channel == "discharge_pressure_bar"
    assert figures.before_mean == pytest.approx(3.4) and figures.after_mean == pytest.approx(6.1)


def test_wrong_asks_are_refused_by_name(quarter: Quarter) -> None:
    reports = _reports(quarter)
    with pytest.raises(NotFound, match="b9"):
        reports.figures("monthly", "b9", "2026-08", local(9, 1))
    with pytest.raises(NotFound):  # the rectification is building 1's, not building 2's
        reports.figures("repair", "b2", quarter.rectification.id, local(9, 1))
    with pytest.raises(ValueError, match="month"):
        reports.figures("monthly", "b1", "2026-Q3", local(9, 1))
    with pytest.raises(ValueError, match="YYYY-MM"):
        reports.figures("quarterly", "b1", "2026-13", local(9, 1))


@pytest.mark.parametrize(
    ("label", "before"),
    [
        ("2026-01", "2025-12"),  # across the year
        ("2026-Q1", "2025-Q4"),
        ("2026-Q3", "2026-Q2"),
    ],
)
def test_the_previous_period(label: str, before: str) -> None:
    assert previous(parse_period(label, "Asia/Shanghai"), "Asia/Shanghai").label == before
