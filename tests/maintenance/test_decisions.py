"""The maintenance decisions as tables (pure): a window and a new alert, a plan's clock, the owners' moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine.maintenance import (
    CERTIFICATE,
    OVERDUE,
    Moment,
    PlanReason,
    WindowChange,
    WindowFacts,
    WindowReason,
    decide_plan,
    decide_window,
    due_announcements,
)
from facwatch.model import Level, MaintenancePlan, MaintenanceWindow

NOW = datetime(2025, 3, 5, 2, 0, tzinfo=UTC)
WINDOW = MaintenanceWindow("W-000001", "b1-elev-1", NOW - timedelta(hours=1), NOW + timedelta(hours=1))
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("level", "kind", "window", "detail", "change", "reason"),
    [
        # no window: nothing changes
        (Level.ORANGE, "elevator.door_fault", None, {}, WindowChange.NOTIFY, WindowReason.NO_WINDOW),
        # a RED during a window is notified as always (safety first)
        (Level.RED, "elevator.entrapment", WINDOW, {}, WindowChange.NOTIFY, WindowReason.RED_NOTIFIED),
        # even a RED made while the car was on inspection
        (Level.RED, "elevator.entrapment", WINDOW, {"inspection_mode": 1.0}, WindowChange.NOTIFY, WindowReason.RED_NOTIFIED),
        # a fault during the window: recorded, nobody told
        (Level.ORANGE, "elevator.door_fault", WINDOW, {}, WindowChange.RECORD, WindowReason.DURING),
        (Level.YELLOW, "elevator.wear_predicted", WINDOW, {}, WindowChange.RECORD, WindowReason.DURING),
        (Level.BLUE, "device.offline", WINDOW, {"inspection_mode": 0.0}, WindowChange.RECORD, WindowReason.DURING),
        # the car on inspection (检修) during a window: expected, no alert at all
        (Level.ORANGE, "elevator.stopped_outside_door_zone", WINDOW, {"inspection_mode": 1.0}, WindowChange.DROP, WindowReason.EXPECTED),
        (Level.BLUE, "elevator.inspection_mode", WINDOW, {}, WindowChange.DROP, WindowReason.EXPECTED),
    ],
)  # fmt: skip
def test_a_new_alert_during_a_window(
    level: Level,
    kind: str,
    window: MaintenanceWindow | None,
    detail: dict[str, float],
    change: WindowChange,
    reason: WindowReason,
) -> None:
    assert decide_window(WindowFacts(level, kind, window, detail), NOW) == (change, reason)


PLAN = MaintenancePlan("b1-elev-1", 15.0)


@pytest.mark.parametrize(
    ("plan", "last_recorded", "overdue", "reason", "expiring", "creason"),
    [
        # visited 10 days ago: in time
        (PLAN, NOW - 10 * DAY, False, PlanReason.VISITED, False, PlanReason.NO_CERTIFICATE),
        # 15 days since the last visit: overdue
        (PLAN, NOW - 15 * DAY, True, PlanReason.OVERDUE, False, PlanReason.NO_CERTIFICATE),
        # no visit on record at all: overdue (record one)
        (PLAN, None, True, PlanReason.NEVER_VISITED, False, PlanReason.NO_CERTIFICATE),
        # the site file's last visit counts when nothing newer is recorded
        (MaintenancePlan("a", 15.0, last_visit=NOW - 3 * DAY), None, False, PlanReason.VISITED, False, PlanReason.NO_CERTIFICATE),
        # a recorded visit newer than the site file's closes the clock
        (MaintenancePlan("a", 15.0, last_visit=NOW - 30 * DAY), NOW - DAY, False, PlanReason.VISITED, False, PlanReason.NO_CERTIFICATE),
        # certificate: 31 days left is fine, 30 is a warning, past is expired
        (MaintenancePlan("a", 15.0, certificate_expires=NOW + 31 * DAY), NOW, False, PlanReason.VISITED, False, PlanReason.CERTIFICATE_VALID),
        (MaintenancePlan("a", 15.0, certificate_expires=NOW + 30 * DAY), NOW, False, PlanReason.VISITED, True, PlanReason.CERTIFICATE_EXPIRING),
        (MaintenancePlan("a", 15.0, certificate_expires=NOW - DAY), NOW, False, PlanReason.VISITED, True, PlanReason.CERTIFICATE_EXPIRED),
    ],
)  # fmt: skip
def test_the_plan_clock(
    plan: MaintenancePlan,
    last_recorded: datetime | None,
    overdue: bool,
    reason: PlanReason,
    expiring: bool,
    creason: PlanReason,
) -> None:
    status = decide_plan(plan, last_recorded, NOW)
    assert (status.overdue, status.overdue_reason) == (overdue, reason)
    assert (status.expiring, status.certificate_reason) == (expiring, creason)
    assert status.active(OVERDUE) is overdue and status.active(CERTIFICATE) is expiring


@pytest.mark.parametrize(
    ("at", "moments"),
    [
        (WINDOW.start - 2 * DAY, ()),  # too early
        (WINDOW.start - DAY, (Moment.PLANNED,)),  # the day before
        (WINDOW.start - timedelta(minutes=5), (Moment.PLANNED,)),  # planned late: told at once
        (WINDOW.start, ()),  # under way
        (WINDOW.end, (Moment.DONE,)),  # over
        (WINDOW.end + 2 * DAY, ()),  # long over (a restart): not told again
    ],
)
def test_when_owners_are_told(at: datetime, moments: tuple[Moment, ...]) -> None:
    assert due_announcements(WINDOW, at) == moments
