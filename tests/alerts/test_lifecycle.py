"""The ticket and alert lifecycles and the SLA clocks, as tables: one row a case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.engine.clocks import (
    Clock,
    ClockState,
    EscalationReason,
    deadlines,
    due_firings,
    escalation_target,
)
from alerts.engine.conditions import AlertStep, alert_step, resolve_due
from alerts.engine.errors import CheckInRefused, IllegalTransition
from alerts.engine.lifecycle import TRANSITIONS, check_in, next_state
from facwatch.config import SlaSettings
from facwatch.model import AlertState, Level, TicketAction, TicketState

S, A = TicketState, TicketAction
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "action", "expected"),
    [
        (S.OPEN, A.ACKNOWLEDGE, S.ACKNOWLEDGED),  # the engineer takes it
        (S.OPEN, A.DISPATCH, S.DISPATCHED),  # dispatching implies acknowledging
        (S.OPEN, A.CHECK_IN, S.ON_SITE),  # someone was already there
        (S.ACKNOWLEDGED, A.DISPATCH, S.DISPATCHED),  # the happy path, step 2
        (S.DISPATCHED, A.CHECK_IN, S.ON_SITE),  # the happy path, step 3
        (S.DISPATCHED, A.DISPATCH, S.DISPATCHED),  # re-assigned to someone closer
        (S.ON_SITE, A.PROGRESS, S.ON_SITE),  # progress is a fact, not a state
        (S.ON_SITE, A.PLAN_B, S.ON_SITE),  # a fallback plan is recorded, the state stays
        (S.ON_SITE, A.RESOLVE, S.RESOLVED),  # fixed
        (S.RESOLVED, A.CLOSE, S.CLOSED),  # closed after the hold
        (S.RESOLVED, A.REOPEN, S.REOPENED),  # it came back
        (S.CLOSED, A.REOPEN, S.REOPENED),  # it came back after closing
        (S.REOPENED, A.ACKNOWLEDGE, S.ACKNOWLEDGED),  # and starts over
        (S.OPEN, A.CANCEL, S.CANCELLED),  # a false alarm
        (S.CLOSED, A.COMMENT, S.CLOSED),  # a comment never changes the state
    ],
)
def test_legal_transitions(state: TicketState, action: TicketAction, expected: TicketState) -> None:
    assert next_state(state, action) is expected


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (S.ACKNOWLEDGED, A.ACKNOWLEDGE),  # acknowledged twice
        (S.OPEN, A.CLOSE),  # closing what was never resolved
        (S.ON_SITE, A.CHECK_IN),  # arriving twice
        (S.ON_SITE, A.CANCEL),  # an engineer on site cannot cancel: resolve it
        (S.CANCELLED, A.REOPEN),  # a cancelled ticket stays cancelled
        (S.CLOSED, A.RESOLVE),  # nothing to resolve
        (S.OPEN, A.REOPEN),  # it is open
        (S.OPEN, A.PROGRESS),  # progress needs someone dispatched
    ],
)
def test_illegal_transitions_name_state_and_action(state: TicketState, action: TicketAction) -> None:
    with pytest.raises(IllegalTransition) as caught:
        next_state(state, action)
    assert caught.value.state == state.value and caught.value.action == action.value
    assert state.value in str(caught.value) and action.value in str(caught.value)


def test_every_state_is_reachable_and_every_target_is_a_state() -> None:
    reached = {S.OPEN} | set(TRANSITIONS.values())
    assert reached == set(TicketState)


@pytest.mark.parametrize(
    ("posted", "given", "ok"),
    [
        ("QJ9N-39Y3", "QJ9N-39Y3", True),  # the posted code proves arrival
        ("QJ9N-39Y3", "B1E1-0000", False),  # a wrong code is refused
        ("QJ9N-39Y3", None, False),  # no code is refused
        ("", None, True),  # an asset without a posted code has nothing to prove
    ],
)
def test_check_in_code(posted: str, given: str | None, ok: bool) -> None:
    if ok:
        check_in(posted, given)
    else:
        with pytest.raises(CheckInRefused):
            check_in(posted, given)


@pytest.mark.parametrize(
    ("level", "ack_s", "on_site_s", "fixed_s"),
    [
        (Level.RED, 60, 180, None),  # safety: acknowledge in a minute, on site in three
        (Level.ORANGE, 300, 1800, 24 * 3600),  # service impact
        (Level.YELLOW, 3600, None, 48 * 3600),  # rectification order: no on-site clock
        (Level.BLUE, 600, None, None),  # advisory
    ],
)
def test_deadlines_per_level(level: Level, ack_s: int, on_site_s: int | None, fixed_s: int | None) -> None:
    due = deadlines(level, T0, SlaSettings())

    def at(s: int | None) -> datetime | None:
        return None if s is None else T0 + timedelta(seconds=s)

    assert (due.acknowledge, due.on_site, due.fixed) == (at(ack_s), at(on_site_s), at(fixed_s))


def clock(
    name: Clock, due_s: float, next_s: float | None = None, fired: int = 0, stopped: bool = False
) -> ClockState:
    return ClockState(
        clock=name,
        due_at=T0 + timedelta(seconds=due_s),
        next_fire_at=T0 + timedelta(seconds=due_s if next_s is None else next_s),
        fired=fired,
        stopped_at=T0 if stopped else None,
    )


@pytest.mark.parametrize(
    ("clocks", "now_s", "expected"),
    [
        ([clock(Clock.ON_SITE, 180)], 179, []),  # not yet
        ([clock(Clock.ON_SITE, 180)], 180, [(Clock.ON_SITE, 0, 240)]),  # runs out: fire, next in a minute
        ([clock(Clock.ON_SITE, 180, 240, fired=1)], 241, [(Clock.ON_SITE, 1, 300)]),  # the repeat
        ([clock(Clock.ON_SITE, 180, 240, fired=1)], 1000, [(Clock.ON_SITE, 1, 1060)]),  # after a pause: once
        ([clock(Clock.ON_SITE, 180, stopped=True)], 500, []),  # somebody checked in
        (
            [clock(Clock.ACKNOWLEDGE, 60, 180, fired=2), clock(Clock.ON_SITE, 180)],
            180,
            [(Clock.ACKNOWLEDGE, 2, 240), (Clock.ON_SITE, 0, 240)],
        ),  # two clocks at once
    ],
)
def test_due_firings(
    clocks: list[ClockState], now_s: float, expected: list[tuple[Clock, int, float]]
) -> None:
    fired = due_firings(clocks, T0 + timedelta(seconds=now_s), repeat_s=60)
    assert [(f.clock, f.index, (f.next_fire_at - T0).total_seconds()) for f in fired] == expected


def test_escalation_reason_reads_as_text() -> None:
    fired = due_firings([clock(Clock.ON_SITE, 0)], T0, 60)
    assert fired[0].reason is EscalationReason.ON_SITE
    assert str(fired[0].reason) == "escalated: on-site clock ran out"


@pytest.mark.parametrize(
    ("step", "chain", "expected"),
    [(1, 3, 1), (2, 3, 2), (5, 3, 2), (1, 1, 0), (1, 0, 0)],  # up the chain, then stay at its top
)
def test_escalation_target(step: int, chain: int, expected: int) -> None:
    assert escalation_target(step, chain) == expected


@pytest.mark.parametrize(
    ("firing", "active", "expected"),
    [
        (None, True, AlertStep.OPEN),  # first time: an alert opens
        (None, False, AlertStep.IGNORE),  # a clear of nothing
        (AlertState.FIRING, True, AlertStep.REPEAT),  # a repeat counts on the open alert
        (AlertState.FIRING, False, AlertStep.CLEAR),  # normal again: the hold starts
    ],
)
def test_alert_steps(firing: AlertState | None, active: bool, expected: AlertStep) -> None:
    assert alert_step(firing, active) is expected


@pytest.mark.parametrize(
    ("cleared_s", "now_s", "expected"),
    [
        (None, 1000, False),  # not cleared: never resolves by time
        (0, 59, False),  # normal for 59 s of a 60 s hold
        (0, 60, True),  # the hold is over
    ],
)
def test_resolve_hold(cleared_s: float | None, now_s: float, expected: bool) -> None:
    cleared = None if cleared_s is None else T0 + timedelta(seconds=cleared_s)
    assert resolve_due(cleared, T0 + timedelta(seconds=now_s), 60) is expected
